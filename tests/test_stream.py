"""The noise pass that follows the render: row ranges in order give the one-pass noise image, the
chunked render renders every tile once and reports finished prefixes in order, and the CLI's
streamed images equal the unstreamed ones."""
import _thread
import shutil
import threading
import time

import numpy as np
import pytest

from golden_runner import run_in
from nbnumba import random_numbers as R
from nbnumba.cli.argv import parse_argv
from nbnumba.kernels import cpu, tunables
from nbnumba.outputs import NoiseStream
from nbnumba.plan import make_plan
from nbnumba.render import pixel_order


def _image(shape, seed):
    g = np.random.default_rng(seed)
    img = g.gamma(0.7, 3.0, size=shape).astype(np.float32)
    img[g.random(shape) < 0.02] *= 400.0          # some large means: the rejection branch
    return img.reshape(-1)


def test_noise_rows_in_pieces_equal_one_pass():
    img = _image((37, 41), 1)
    whole, photons, overloads = R.noise_image(R.NanoRNG(), img, 41, 37, 3, 35, 2, 30, 40.0, R.make_seed(-5))
    rng, idum = R.NanoRNG(), R.make_seed(-5)
    out, totals = np.zeros(img.size, np.uint16), np.zeros(2)
    for a, b in ((2, 2), (3, 9), (10, 10), (11, 30)):
        R.noise_rows(rng, img, 41, 3, 35, a, b, 40.0, idum, out, totals)
    assert out.tobytes() == whole.tobytes()
    assert (totals[0], int(totals[1])) == (photons, overloads)


@pytest.mark.parametrize("n, tiles", [(1, 1), (2, 7), (2, 300), (3, 64), (4, 129)])
def test_pieces_cover_every_unit_once_in_prefix_order(n, tiles):
    seen, reports, lock = [], [], threading.Lock()

    def run_units(k, lo, hi):
        assert 0 <= lo < hi <= tiles
        with lock:
            seen.extend(range(lo, hi))

    cpu._in_pieces(n, tiles, run_units, reports.append, None)
    assert sorted(seen) == list(range(tiles))
    assert reports == sorted(set(reports)) and reports[-1] == tiles


def test_pieces_follow_the_measured_rate():
    """The first piece is one unit; later ones take about PIECE_S each (here 1 ms a unit)."""
    sizes = []

    def run_units(k, lo, hi):
        sizes.append(hi - lo)
        time.sleep(0.001 * (hi - lo))

    cpu._in_pieces(1, 2000, run_units)
    assert sizes[0] == 1 and sum(sizes) == 2000
    assert 10 <= max(sizes) <= 5 * tunables.PIECE_S / 0.001


def test_an_interrupted_render_stops_after_the_pieces_in_hand():
    """An exception in the waiting main thread (Ctrl-C) reaches the caller once every thread has
    finished the piece it was in; no piece starts afterwards."""
    started, ended = [], []

    def run_units(k, lo, hi):
        started.append(time.perf_counter())
        if lo >= 20 and k == 0 and not ended:
            ended.append(None)
            _thread.interrupt_main()
        time.sleep(0.002 * (hi - lo))

    threads_before = set(threading.enumerate())
    with pytest.raises(KeyboardInterrupt):
        cpu._in_pieces(2, 100000, run_units)
    stopped = time.perf_counter()
    assert not [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]   # every render thread ended
    assert all(t < stopped for t in started) and len(started) < 1000


def test_the_last_thread_leaves_a_long_consumer_its_cpu():
    """With a consumer far behind, the last thread stops as soon as a piece has been timed; the others
    finish."""
    who, lock = {}, threading.Lock()

    def run_units(k, lo, hi):
        with lock:
            for t in range(lo, hi):
                who[t] = k

    reports = []
    cpu._in_pieces(2, 640, run_units, reports.append, lambda: 1e9)
    assert sorted(who) == list(range(640)) and reports[-1] == 640
    assert sum(1 for k in who.values() if k == 1) <= 2
    # and with nothing left for the consumer, both threads render to the end
    who.clear()
    cpu._in_pieces(2, 640, run_units, reports.append, lambda: 0.0)
    assert sorted(who) == list(range(640))


@pytest.mark.parametrize("extra", ["", "-roi 3 40 5 33", "-mask MASK"])
def test_noise_stream_equals_the_one_pass_noise(tmp_path, golden_dir, extra):
    args = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 48 -seed 9 " + extra
    args = args.replace("MASK", str(golden_dir / "inputs" / "mask.img"))
    plan = make_plan(parse_argv(args.split()), lambda line: None)
    p = plan.p
    order, _ = pixel_order(p)
    assert 0 < order.size and (order.size < p.fpixels * p.spixels) == bool(extra)
    img = _image((p.spixels, p.fpixels), 3)
    want = R.noise_image(plan.rng, img, p.fpixels, p.spixels, p.roi_xmin, p.roi_xmax, p.roi_ymin, p.roi_ymax,
                         p.adc_offset, np.array([p.seed], np.int64))
    plan = make_plan(parse_argv(args.split()), lambda line: None)           # a fresh random state
    stream = NoiseStream(plan)
    g = np.random.default_rng(4)
    for done in sorted(set(g.integers(0, order.size, 6).tolist())) + [order.size]:
        stream(img, order, done)
    got = stream.result()
    assert got[0].tobytes() == want[0].tobytes() and got[1:] == want[1:]


def test_cli_streamed_noise_image_is_thread_independent(tmp_path, golden_dir):
    for f in (golden_dir / "inputs").iterdir():
        shutil.copy(f, tmp_path / f.name)
    args = "-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 96 -pixel 0.1 -fluence 1e28 -seed 4".split()
    files = {}
    for threads in ("1", "2", "3"):
        res = run_in(tmp_path, args + ["-threads", threads])
        assert res.exit_code == 0, res.output
        files[threads] = [(tmp_path / f).read_bytes() for f in ("floatimage.bin", "noiseimage.img", "intimage.img")]
    assert files["1"] == files["2"] == files["3"]
