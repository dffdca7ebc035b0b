"""Seeded mutation of every input format (hkl text, -mat, SMV -mask/-img headers, -sourcefile, -stol,
Fdump.bin) and of argv values, run through `nbnumba simulate` in-process on an 8x8 detector.

Every run must end with exit code 0 or 9, never a traceback; on exit 9 no file may be left behind;
inputs are never changed. NBNUMBA_FUZZ_RUNS=N runs N cases per format instead of the default
(NBNUMBA_FUZZ_SEED shifts the seeds), so a long local run explores further than CI does.
"""
import contextlib
import io
import os
import random
import shlex
import struct
import traceback

import pytest

from nbnumba.cli.simulate import simulate

RUNS = int(os.environ.get("NBNUMBA_FUZZ_RUNS", "40"))
SEED0 = int(os.environ.get("NBNUMBA_FUZZ_SEED", "0"))

SMALL = "-N 3 -lambda 6.2 -distance 100 -pixel 0.1 -oversample 1 -seed 1"
CELL = "-cell 100 100 100 90 90 90"

# tokens that probe number parsing: signs, overflow, NaN/inf, hex, empty, text, C's int limits
NUMBERS = ["0", "-0", "1", "-1", "2", "3", "0.5", "-0.5", "1e-300", "-1e-300", "1e300", "-1e300", "1e400",
           "nan", "-nan", "inf", "-inf", "infinity", "0x10", "0x", "2147483647", "2147483648", "-2147483648",
           "4294967296", "99999999999999999999", "1" * 5000, "-" + "9" * 400, "1.5e", "+", "-", ".", "e5",
           "abc", "", " ", "1,2", "7;"]
JUNK = [b"\0", b"\n", b"\r\n", b"\t", b"#", b"# comment\n", b"\xff\xfe", b"\f", b";", b"=", b"}", b"{"]


def _token(rng):
    return rng.choice(NUMBERS)


def _argv_token(rng):
    return _token(rng)


def mutate_text(rng, data, rounds=None):
    """Token- and byte-level mutations of a text file."""
    data = bytearray(data)
    for _ in range(rounds or rng.randint(1, 4)):
        op = rng.randrange(8)
        if not data:
            data += _token(rng).encode()
            continue
        if op == 0:     # replace a whitespace-separated token by an interesting one
            words = bytes(data).split(b" ")
            i = rng.randrange(len(words))
            words[i] = _token(rng).encode()
            data = bytearray(b" ".join(words))
        elif op == 1:   # flip a byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif op == 2:   # insert junk
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.choice(JUNK)
        elif op == 3:   # truncate
            del data[rng.randrange(len(data)):]
        elif op == 4:   # delete a line
            lines = bytes(data).split(b"\n")
            del lines[rng.randrange(len(lines))]
            data = bytearray(b"\n".join(lines))
        elif op == 5:   # duplicate a line
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            lines.insert(i, lines[i])
            data = bytearray(b"\n".join(lines))
        elif op == 6:   # an extra column or a short line
            lines = bytes(data).split(b"\n")
            i = rng.randrange(len(lines))
            lines[i] = lines[i] + b" " + _token(rng).encode() if rng.random() < 0.5 else lines[i][:len(lines[i]) // 2]
            data = bytearray(b"\n".join(lines))
        else:           # an interesting token appended
            data += b" " + _token(rng).encode() + rng.choice([b"\n", b""])
    return bytes(data)


def hkl_text(rng):
    lines = []
    for h in range(-1, 2):
        for k in range(-1, 2):
            for l in range(-1, 2):
                lines.append("%4d %4d %4d %10.4f" % (h, k, l, rng.uniform(0, 100)))
    return ("\n".join(lines) + "\n").encode()


MAT = (b"  0.00502064  -0.01154643  -0.00236008\n  0.00905748   0.00467654  -0.01548420\n"
       b"  0.00725128   0.00215311   0.02097517\n       0.000       0.000       0.000\n")
SOURCES = b"-10.0  0.0    0.0    1.0  6.2e-10\n-10.0  0.002  0.0    0.5  6.2e-10\n"
STOL = b"0.0 2.57\n0.1 2.3\n0.2 1.8\n"


def smv_bytes(keys, body):
    text = "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
    text += "".join("%s=%s;\n" % kv for kv in keys.items()) + "}\f"
    return text.encode("latin-1").ljust(512, b" ") + body


def smv_case(rng):
    keys = {"SIZE1": "8", "SIZE2": "8", "PIXEL_SIZE": "0.1", "DISTANCE": "100", "WAVELENGTH": "6.2",
            "BEAM_CENTER_X": "0.4", "BEAM_CENTER_Y": "0.4"}
    body = bytes(rng.choice([0, 1]) for _ in range(128))
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(list(keys) + ["HEADER_BYTES", "DETECTOR_DIMENSIONS", "CLOSE_DISTANCE", "PHI", "OSC_RANGE"])
        keys[key] = rng.choice(NUMBERS[:30] + ["65536", "100000", "0.01"])
    data = smv_bytes(keys, body)
    if rng.random() < 0.3:
        data = mutate_text(rng, data)
    return data


def fdump_bytes(rng):
    head = b"-1 1 -1 1 -1 1\n\f"
    grid = struct.pack("<27d", *[rng.uniform(0, 100) for _ in range(27)])
    r = rng.random()
    if r < 0.5:
        words = head.split(b" ")
        words[rng.randrange(6)] = rng.choice(NUMBERS).encode()
        head = b" ".join(words)
    elif r < 0.8:
        grid = grid[:rng.randrange(len(grid))]
    else:
        return mutate_text(rng, head + grid)
    return head + grid


# argv: flags with the number of values each takes
FLAGS = [("-pixel", 1), ("-distance", 1), ("-close_distance", 1), ("-lambda", 1), ("-energy", 1),
         ("-detpixels", 1), ("-detpixels_f", 1), ("-detsize", 1), ("-roi", 4), ("-cell", 6), ("-N", 1),
         ("-Na", 1), ("-xtalsize", 1), ("-misset", 3), ("-mosaic", 1), ("-mosaic_dom", 1), ("-phi", 1),
         ("-osc", 1), ("-phisteps", 1), ("-phistep", 1), ("-oversample", 1), ("-divergence", 1),
         ("-divsteps", 1), ("-dispersion", 1), ("-dispsteps", 1), ("-detector_thick", 1),
         ("-detector_abs", 1), ("-thicksteps", 1), ("-Xbeam", 1), ("-Ybeam", 1), ("-twotheta", 1),
         ("-detector_rotx", 1), ("-beam_vector", 3), ("-fdet_vector", 3), ("-polar", 1), ("-polar_vector", 3),
         ("-spindle_axis", 3), ("-fluence", 1), ("-flux", 1), ("-exposure", 1), ("-beamsize", 1), ("-water", 1),
         ("-dmin", 1), ("-scale", 1), ("-adc", 1), ("-pgmscale", 1), ("-default_F", 1), ("-seed", 1),
         ("-mosaic_seed", 1), ("-misset_seed", 1), ("-fudge", 1), ("-ORGX", 1), ("-pix0_vector", 3),
         ("-threads", 1), ("-kernel", 1), ("-printout_pixel", 2)]
SWITCHES = ["-nonoise", "-nopgm", "-curved_det", "-point_pixel", "-nopolar", "-oversample_thick", "-oversample_omega",
            "-round_xtal", "-gauss_xtal", "-tophat_spots", "-interpolate", "-nointerpolate", "-xds", "-adxv", "-denzo",
            "-dials", "-mosflm", "-printout", "-noprogress"]


def argv_case(rng):
    args = shlex.split("%s -default_F 100 %s -detpixels 8" % (CELL, SMALL))
    for _ in range(rng.randint(1, 4)):
        if rng.random() < 0.2:
            args.append(rng.choice(SWITCHES))
            continue
        flag, n = rng.choice(FLAGS)
        values = [_argv_token(rng) if rng.random() < 0.7 else str(rng.choice([1, 2, 5, 10, 45, 90, 100]))
                  for _ in range(n)]
        if rng.random() < 0.1:
            values = values[:rng.randrange(n + 1)]      # fewer values than the flag takes
        args += [flag] + values
    return args, {}


def hkl_case(rng):
    return shlex.split("%s -hkl in.hkl %s -detpixels 8" % (CELL, SMALL)), {"in.hkl": mutate_text(rng, hkl_text(rng))}


def mat_case(rng):
    return shlex.split("-mat in.mat -default_F 10 %s -detpixels 8" % SMALL), {"in.mat": mutate_text(rng, MAT)}


def mask_case(rng):
    return shlex.split("-mask in.img %s -default_F 10 -N 3 -oversample 1 -seed 1" % CELL), {"in.img": smv_case(rng)}


def img_case(rng):
    return shlex.split("-img in.img %s -default_F 10 -N 3 -oversample 1 -seed 1" % CELL), {"in.img": smv_case(rng)}


def sources_case(rng):
    return (shlex.split("%s -default_F 10 %s -detpixels 8 -sourcefile in.txt" % (CELL, SMALL)),
            {"in.txt": mutate_text(rng, SOURCES)})


def stol_case(rng):
    return (shlex.split("%s -default_F 10 %s -detpixels 8 -stol in.stol" % (CELL, SMALL)),
            {"in.stol": mutate_text(rng, STOL)})


def fdump_case(rng):
    # without -hkl, Fdump.bin in the working folder is read (quirk B1)
    return shlex.split("%s %s -detpixels 8" % (CELL, SMALL)), {"Fdump.bin": fdump_bytes(rng)}


CASES = {"argv": argv_case, "hkl": hkl_case, "mat": mat_case, "mask": mask_case, "img": img_case,
         "sources": sources_case, "stol": stol_case, "fdump": fdump_case}


def run_case(folder, args, files):
    """simulate(args) in `folder` holding `files`; returns a list of problems (empty when all is well)."""
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = simulate(list(args))
    except BaseException:  # noqa: BLE001 - any escape is the failure we look for
        return ["raised: " + " | ".join(traceback.format_exc().strip().splitlines()[-4:])]
    finally:
        os.chdir(old)
    problems = []
    text = out.getvalue() + err.getvalue()
    if rc not in (0, 9):
        problems.append("exit code %r" % rc)
    if "Traceback" in text:
        problems.append("traceback in the output: " + text[-1500:])
    for name, data in files.items():
        if (folder / name).read_bytes() != data:
            problems.append("input %s changed" % name)
    after = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    if rc == 9:
        left = sorted(n for n in after if n not in before or after[n] != before[n])
        if left:
            problems.append("exit 9 left %s" % left)
        if not [l for l in err.getvalue().splitlines() if l.startswith("nbnumba simulate: error: ")]:
            problems.append("exit 9 without an error line: " + err.getvalue()[-500:])
    if any(n.endswith(".tmp") for n in after):
        problems.append("temporary file left: %s" % sorted(after))
    return problems


@pytest.mark.parametrize("kind", sorted(CASES))
def test_fuzz(kind, tmp_path):
    failures = []
    for k in range(RUNS):
        seed = SEED0 + 1000 * sorted(CASES).index(kind) + k
        rng = random.Random(seed)
        args, files = CASES[kind](rng)
        problems = run_case(tmp_path / str(seed), args, files)
        if problems:
            shown = {n: d[:200] for n, d in files.items()}
            failures.append("seed %d: args %s\n  files %r\n  %s" % (seed, shlex.join(a[:60] for a in args)[:800], shown,
                                                                      "\n  ".join(problems)))
    assert not failures, "\n\n".join(failures[:5]) + "\n\n(%d of %d runs failed)" % (len(failures), RUNS)
