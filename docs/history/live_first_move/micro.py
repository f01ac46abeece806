import time
import torch

torch.set_num_threads(1)
N, K, H, U = 100000, 5, 512, 512
codes = torch.randn(N, K * (H + U))
view = codes.view(N, K, H + U)[:, :, H:]
cont = view.contiguous()
neg = torch.randn(K, U)
w = torch.randn(K * U)
block = (1 << 18) // (K * U)
buf = torch.empty(block, K, U)
col = torch.empty(N)


def run(h):
    t = time.thread_time()
    for s in range(0, N, block):
        e = min(s + block, N)
        part = buf[: e - s]
        torch.maximum(h[s:e], neg, out=part)
        torch.mv(part.view(e - s, K * U), w, out=col[s:e])
    return time.thread_time() - t


def run_copy(h):
    t = time.thread_time()
    for s in range(0, N, block):
        e = min(s + block, N)
        part = buf[: e - s]
        part.copy_(h[s:e])
        part.clamp_(min=0)
        torch.mv(part.view(e - s, K * U), w, out=col[s:e])
    return time.thread_time() - t


def run_perk(h):
    t = time.thread_time()
    for s in range(0, N, block):
        e = min(s + block, N)
        part = buf[: e - s]
        for k in range(K):
            torch.maximum(h[s:e, k], neg[k], out=part[:, k])
        torch.mv(part.view(e - s, K * U), w, out=col[s:e])
    return time.thread_time() - t


for i in range(3):
    print(
        "cont %.3f  view %.3f  view-copy %.3f view-perk %.3f" % (run(cont), run(view), run_copy(view), run_perk(view))
    )
