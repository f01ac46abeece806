"""The batch split of engine/sharding.py: alone it changes nothing; under N ranks the parts tile every batch."""

import torch

from zsl_desktop.engine.sharding import Shards


def test_alone_every_call_is_a_no_op():
    shards = Shards()
    part = shards.part(7)
    assert part.rows == slice(0, 7) and part.share == 1.0 and not shards.active
    w = torch.ones(3, requires_grad=True)
    loss = (w * 2).sum()
    loss.backward()
    assert shards.average_gradients([w], part.share, loss) == [6.0]
    assert torch.equal(w.grad, torch.full((3,), 2.0))  # untouched
    x = torch.arange(4.0, requires_grad=True)
    assert part.whole(x) is x and shards.gather_rows(x) is x


def test_parts_tile_each_batch_and_shares_weigh_rows():
    for world in (2, 3, 4):
        for size in (1, 2, 5, 7, 16, 33):
            parts = [Shards(rank, world).part(size) for rank in range(world)]
            owned = [Shards(rank, world).owns(size) for rank in range(world)]
            rows = [i for s in owned for i in range(size)[s]]
            assert rows == list(range(size))  # contiguous, in order, each row once
            assert abs(sum(p.share for p in parts) - 1.0) < 1e-12
            for p, own in zip(parts, owned):
                assert p.share == (own.stop - own.start) / size
                # a rank without rows runs the batch's first row at weight 0, so every rank runs the same code
                assert p.rows == own if own.stop > own.start else (p.rows == slice(0, 1) and p.share == 0)
                assert max(s.stop - s.start for s in owned) - (own.stop - own.start) <= 1


def test_share_weighted_part_gradients_sum_to_the_whole_batch_gradient():
    """The recipe each rank follows (mean loss on its part, gradient times its share), summed by hand."""
    torch.manual_seed(0)
    x, y = torch.randn(7, 5), torch.randint(0, 3, (7,))
    layer = torch.nn.Linear(5, 3)
    torch.nn.functional.cross_entropy(layer(x), y).backward()
    whole = layer.weight.grad.clone()
    total = torch.zeros_like(whole)
    for rank in range(3):
        part = Shards(rank, 3).part(7)
        layer.zero_grad()
        torch.nn.functional.cross_entropy(layer(part.of(x)), part.of(y)).backward()
        total += part.share * layer.weight.grad
    torch.testing.assert_close(total, whole, rtol=1e-6, atol=1e-7)
