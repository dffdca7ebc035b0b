"""nbnumba.random_numbers against nanoBragg.c: golden noise images and values from the reference routines.

The hex constants were produced by the reference C routines (ran1, poidev, gaussdev, gammln,
mosaic_rotation_umat, umat2misset and the noise loop) built with gcc -O2, as float32/float64
bit patterns.
"""
import hashlib
import math
import re
import shlex
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from nbnumba import random_numbers as R

GOLDEN = Path(__file__).resolve().parent.parent / "golden"
RTD = 180.0 / math.pi


def f32hex(x):
    return "%08x" % np.float32(x).view(np.uint32)


def f64hex(x):
    return "%016x" % np.float64(x).view(np.uint64)


def hexf32(h):
    return float(np.uint32(int(h, 16)).view(np.float32))


# ------------------------------------------------------------------ reference values from C

def test_ran1_reference_sequences():
    rng = R.NanoRNG()
    idum = R.make_seed(-1)
    assert [f32hex(R.ran1(rng, idum)) for _ in range(8)] == [
        "3ed4fdde", "3dbc5817", "3f41a41e", "3f079a6f", "3f6e3116", "3ec45a62", "3f27673c", "3d88e495"]
    assert idum[0] == 1899894091
    idum[0] = -12345678          # non-positive: reseeds the shared table
    assert [f32hex(R.ran1(rng, idum)) for _ in range(8)] == [
        "3f4417e0", "3cc021e6", "3f16f853", "3f08fc6b", "3f7b7385", "3f316981", "3ea802de", "3e975e59"]
    assert idum[0] == 716607775
    idum[0] = 5                  # positive: continues with the table left by the seed above
    assert [f32hex(R.ran1(rng, idum)) for _ in range(4)] == [
        "3f599438", "3f179e78", "3f0ee1c8", "3f08f0ee"]
    assert idum[0] == 629750996
    idum[0] = 0                  # 0 reseeds as 1, i.e. like -1
    assert [f32hex(R.ran1(rng, idum)) for _ in range(2)] == ["3ed4fdde", "3dbc5817"]
    assert idum[0] == 2110010672


def test_ran1_positive_first_seed_acts_as_one():
    a, b = R.NanoRNG(), R.NanoRNG()
    sa, sb = R.make_seed(987654), R.make_seed(-1)
    assert [R.ran1(a, sa) for _ in range(40)] == [R.ran1(b, sb) for _ in range(40)]


def test_poidev_reference_all_branches():
    # means span the direct (<12), rejection (12..1e6) and Gaussian (>1e6) branches, with
    # repeated means (poidev's cache) and the Gaussian spare deviate (2e6 twice, 3e9 after)
    means = ["00000000", "3f000000", "3f000000", "3f000000", "40a00000", "413fd70a", "41400000",
             "41400000", "42480000", "42480000", "447a2000", "47c35000", "497423f0", "49f42400",
             "49f42400", "49f42400", "4f32d05e", "3f000000"]
    expected = [("00000000", 1566100122), ("00000000", 1885172822), ("3f800000", 587317117),
                ("3f800000", 1092642215), ("41200000", 871065927), ("41800000", 851954209),
                ("41400000", 539277757), ("41400000", 752881752), ("42340000", 238529403),
                ("422c0000", 329792500), ("44758000", 1357991669), ("47c45300", 981629241),
                ("4973a0f0", 1899589718), ("49f3e111", 1900997419), ("49f43336", 1900997419),
                ("49f41a4e", 1634509566), ("4f32cffd", 1634509566), ("00000000", 591463338)]
    rng = R.NanoRNG()
    idum = R.make_seed(-7)
    got = []
    for m in means:
        v = R.poidev(rng, hexf32(m), idum)
        got.append((f32hex(v), int(idum[0])))
    assert got == expected


def test_gammln_reference():
    table = [("3f000000", "3f128682"), ("3f800000", "00000000"), ("40000000", "a6000000"),
             ("40600000", "3f99b981"), ("41500000", "419fe5d1"), ("424c0000", "43147a4f"),
             ("447a6000", "45b8dca9"), ("47c35080", "4980551a"), ("49742400", "4b438c91")]
    assert [(x, f32hex(R.gammln(hexf32(x)))) for x, _ in table] == table


def test_mosaic_umat_and_misset_reference():
    rng = R.NanoRNG()
    idum = R.make_seed(-12345678)
    expected = [
        ("3fefffb8f4d3b6c3 3f80d91bbd498edc bf31dfa9eaad1f43 bf80d9772a6ed3d8 3fefffb1f14ce6c3 "
         "bf654948e78843d5 3f3078dc558c60c7 3f654dce4b9e6037 3feffff8d79bf0d2",
         "3f654dcfe9c852c1 bf3078dc58754695 bf80d983a88eae5c"),
        ("3fefffb887ebdd50 bf805548f11035b3 3f617b36f52409a8 3f8055d1ba047adf 3fefffbd0ecf6c1f "
         "bf3ec4d0608ae1db bf6173382eb1fe38 3f3fe21b53447b63 3feffffafe71afb3",
         "3f3fe22025f2c96b 3f6173390c18ea37 3f8055df81d1bd54"),
        ("3fefffee0a3bbb92 3f67475c0fa827a8 3f68a5f439a174f4 bf676aaddfc10948 3fefffd674481852 "
         "3f76f86d69824ec0 bf688468a989e80c bf7701653eb54072 3fefffd587802df6",
         "bf770173ec9b45aa 3f68846b0f96e811 bf676ab6d63f5305"),
    ]
    for umat_hex, mis_hex in expected:
        u = R.mosaic_rotation_umat(rng, 0.5 / 57.29577951308232, idum)
        assert " ".join(f64hex(v) for v in u) == umat_hex
        assert " ".join(f64hex(v) for v in R.umat2misset(u)) == mis_hex
    assert idum[0] == 938582049
    # the random misset: a 90 *radian* cap
    idum = R.make_seed(-777)
    u = R.mosaic_rotation_umat(rng, 90.0, idum)
    assert " ".join(f64hex(v) for v in u) == (
        "3fefdc84eef63874 bfb629ef74268364 3fa158c76f15cb53 3fb6920b4fd6d7b4 3fefd661797ae0e6 "
        "bfa8e204b13ef4b6 bf9e356fc004ffcb 3faa4df4539e2164 3feff19c7d0c0530")
    assert idum[0] == 1089056394


def test_random_misset_matches_reference_binary_printout():
    # nanoBragg ... -misset random -misset_seed 777 printed "2.946208 1.690512 5.060313 deg"
    angles = R.random_misset(R.NanoRNG(), R.make_seed(-777))
    assert ["%f" % (a * RTD) for a in angles] == ["2.946208", "1.690512", "5.060313"]


def test_umat2misset_degenerate_inputs():
    # gimbal lock (uzx = +-1) takes C's fixed rotx = pi, roty = pi/2 branch
    rx, ry, rz = R.umat2misset(np.array([0, 0, -1, 0, 1, 0, 1, 0, 0.0]))
    assert (rx, ry) == (math.pi, math.pi / 2)
    assert rz == math.atan2(0.0, -1.0)
    # null rows are rebuilt from the others: the zero matrix and a single row give identity
    assert R.umat2misset(np.zeros(9)) == (0.0, 0.0, 0.0)
    assert R.umat2misset(np.array([2.0, 0, 0, 0, 0, 0, 0, 0, 0])) == (0.0, 0.0, 0.0)


# ------------------------------------------------------------------ noise loop

def synthetic_image(fpixels, spixels):
    """Deterministic means over all three poidev branches (exact float32 operations only)."""
    x = np.arange(fpixels * spixels, dtype=np.int64)
    img = ((x * 7919) % 2003).astype(np.float32) / np.float32(100.0)
    img[x % 7 == 3] *= np.float32(1000.0)
    img[x % 13 == 5] *= np.float32(1.0e5)
    img[x % 17 == 0] = 0.0
    return img


def test_noise_shares_state_with_misset_and_mosaic():
    # C order: misset (seed -777), 5 mosaic domains with idum=+3 and the noise with idum=+5;
    # the positive seeds do not reseed, so the noise depends on everything before it.
    rng = R.NanoRNG()
    R.random_misset(rng, R.make_seed(-777))
    R.mosaic_domain_umats(rng, 0.4 / 57.29577951308232, 5, R.make_seed(3))
    idum = R.make_seed(5)
    img = synthetic_image(48, 40)
    noise, total, overloads = R.noise_image(rng, img, 48, 40, 3, 40, 2, 35, 40.0, idum)
    assert f64hex(total) == "42072c192a6e0000" and overloads == 91
    assert idum[0] == 356281976
    assert hashlib.sha256(noise.astype("<u2").tobytes()).hexdigest() == (
        "3b3a00a78ab577e8e9b989703029b34c7ab077e8b64482adab06cc398b17d843")
    outside = np.ones((40, 48), bool)
    outside[2:36, 3:41] = False
    assert not noise.reshape(40, 48)[outside].any()


def test_noise_negative_adc_wraps_like_c_cast():
    # (unsigned short) of a negative double keeps the low 16 bits of the int32 truncation
    rng = R.NanoRNG()
    idum = R.make_seed(-11)
    noise, total, overloads = R.noise_image(rng, synthetic_image(48, 40), 48, 40, 0, 48, 0, 40,
                                            -30.5, idum)
    assert f64hex(total) == "4212afd10cc78000" and overloads == 137 and idum[0] == 1073056490
    assert noise[:12].tolist() == [65506, 65517, 65523, 17216, 65515, 65535, 65516, 65524,
                                   65515, 65518, 10723, 65515]
    assert hashlib.sha256(noise.astype("<u2").tobytes()).hexdigest() == (
        "e69d219641e331181124bfd71861acfc99688e30de709b2c5ee9b5760a6fdb1e")


def test_zero_pixels_draw_one_ran1_each():
    a, b = R.NanoRNG(), R.NanoRNG()
    sa, sb = R.make_seed(-42), R.make_seed(-42)
    noise, total, overloads = R.noise_image(a, np.zeros(30 * 20, np.float32), 30, 20,
                                            5, 9, 3, 6, 40.0, sa)
    for _ in range(5 * 4):
        R.ran1(b, sb)
    assert sa[0] == sb[0] and total == 0.0 and overloads == 0
    assert np.count_nonzero(noise) == 20 and set(noise[noise > 0]) == {40}


def _golden_run(name):
    case = next(c for c in tomllib.loads((GOLDEN / "cases.toml").read_text())["case"]
                if c["name"] == name)
    args = shlex.split(case["args"])
    opt = lambda flag, default: args[args.index(flag) + 1] if flag in args else default
    d = GOLDEN / "cases" / name
    stdout = (d / "stdout.txt").read_text()
    domains = int(re.search(r"created a total of (\d+) mosaic domains", stdout).group(1))
    roi = [int(v) for v in re.search(r"roi: (-?\d+) < x < (-?\d+) && (-?\d+) < y < (-?\d+)",
                                     stdout).groups()]
    photons = re.search(r"(\S+) photons on noise image \((\d+) overloads\)", stdout).groups()
    raw = (d / opt("-noisefile", "noiseimage.img")).read_bytes()
    fpix = int(re.search(rb"SIZE1=(\d+)", raw[:512]).group(1))
    spix = int(re.search(rb"SIZE2=(\d+)", raw[:512]).group(1))
    expected = np.frombuffer(raw[len(raw) - fpix * spix * 2:], dtype="<u2")
    floatimage = np.fromfile(d / opt("-floatfile", "floatimage.bin"), dtype="<f4")

    rng = R.NanoRNG()            # none of these cases uses -misset random
    spread = float(opt("-mosaic", "0")) / RTD
    R.mosaic_domain_umats(rng, spread, domains, R.make_seed(-int(opt("-mosaic_seed", "12345678"))))
    noise, total, overloads = R.noise_image(rng, floatimage, fpix, spix, *roi,
                                            float(opt("-adc", "40")),
                                            R.make_seed(-int(opt("-seed", "0"))))
    return noise, total, overloads, expected, photons


@pytest.mark.parametrize("name", ["noise_bright", "base_mosflm", "roi", "named_outputs", "mosaic"])
def test_golden_noise_image(name):
    noise, total, overloads, expected, photons = _golden_run(name)
    assert np.array_equal(noise, expected)
    assert ("%.0f" % total, str(overloads)) == photons


# ------------------------------------------------------------------ properties

@settings(max_examples=60, deadline=None)
@given(seed=st.integers(-2**31 + 1, 0), spread=st.floats(1e-6, 3.0))
def test_umat_is_a_rotation_within_the_cap(seed, spread):
    u = R.mosaic_rotation_umat(R.NanoRNG(), spread, R.make_seed(seed)).reshape(3, 3)
    assert np.allclose(u @ u.T, np.eye(3), atol=1e-12)
    assert abs(np.linalg.det(u) - 1.0) < 1e-12
    angle = math.acos(max(-1.0, min(1.0, (np.trace(u) - 1.0) / 2.0)))
    assert angle <= float(np.float32(spread)) * (1 + 1e-6) + 1e-7
    # the extracted angles rebuild the matrix as Rz(rotz) Ry(roty) Rx(rotx)
    rx, ry, rz = R.umat2misset(u.ravel())
    cx, sx, cy, sy, cz, sz = math.cos(rx), math.sin(rx), math.cos(ry), math.sin(ry), math.cos(rz), math.sin(rz)
    rot = (np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
           @ np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
           @ np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]]))
    assert np.allclose(rot, u, atol=1e-9)


def test_seed_must_be_int64_array():
    with pytest.raises(TypeError):
        R.ran1(R.NanoRNG(), -5)
