import time
from PySide6.QtGui import QImage, QPainter, QPen, QColor, QPicture
from PySide6.QtCore import QLineF, QRectF
from PySide6.QtWidgets import QApplication

app = QApplication([])
img = QImage(1400, 700, QImage.Format_ARGB32_Premultiplied)
img.fill(0)


def run(label, draw):
    pic = QPicture()
    p = QPainter(pic)
    p.setRenderHint(QPainter.Antialiasing, False)
    draw(p)
    p.end()
    q = QPainter(img)
    t = time.thread_time()
    for _ in range(20):
        pic.play(q)
    q.end()
    print(label, round((time.thread_time() - t) / 20 * 1000, 2), "ms per play")


def lines(alpha, cosmetic=True, width=0):
    def d(p):
        for i in range(60):
            pen = QPen(QColor(120, 120, 140, alpha))
            pen.setCosmetic(cosmetic)
            pen.setWidthF(width)
            p.setPen(pen)
            p.drawLine(QLineF(i * 20, 0, i * 20, 700))
            p.drawLine(QLineF(0, i * 10, 1400, i * 10))

    return d


def rects(alpha):
    def d(p):
        for i in range(60):
            c = QColor(120, 120, 140, alpha)
            p.fillRect(QRectF(i * 20, 0, 1, 700), c)
            p.fillRect(QRectF(0, i * 10, 1400, 1), c)

    return d


run("opaque w0", lines(255))
run("alpha w0", lines(30))
run("alpha w1 cosmetic", lines(30, True, 1))
run("alpha w1 noncosm", lines(30, False, 1))
run("alpha rects", rects(30))
run("opaque rects", rects(255))
