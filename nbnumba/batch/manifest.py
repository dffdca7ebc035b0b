"""The batch manifest: a TOML file (or JSON Lines of {"id", "args"}) turned into the list of jobs.

A job is one image: its id, its place in the manifest and the complete `nbnumba simulate` argument
list that renders it when run in the output folder (inputs as absolute paths, outputs as the plain
names the templates give). Everything is checked here, before any image is rendered: a bad manifest
is one NanoBraggError naming the file, line, key or id.

    base = "-cell 70 80 90 90 90 90 -hkl P1.hkl -N 5 -distance 100 -detpixels 256"
    seed = 1                                     # image i without its own -seed gets -seed seed+i
    [outputs]                                    # default: floatfile and noisefile
    floatfile = "{id}.bin"                       # names: {id}, and {index} (0-based, {index:05d})
    noisefile = "{id}.img"
    sweep = "sweep.nxs"                          # optional: every frame in one NXmx rotation series
    [[image]]
    id = "still"
    args = "-phi 10"
    [rotation]                                   # frames prefix00001 ...: -phi start+i*osc -osc osc
    prefix = "rot_"
    start = 0.0
    osc = 0.1
    frames = 40
    [orientations]                               # random orientations drawn from seed + i
    prefix = "ori_"
    count = 100
    seed = 7

`sweep` (no {id}: one file for the whole manifest) collects the noise images (the int images where no
noisefile is named; those need -scale) of the [rotation] frames, in manifest order, into one NXmx file
as one rotation scan (io.nexus.sweep_bytes), written by the runner once every frame is done; [[image]]
and [orientations] images are not part of it (their Job.sweep is None). The frames must form a sweep:
the same detector, beam, spindle and -osc > 0 (the flags that set them identical), and phi advancing by
osc from one frame to the next, as one [rotation] gives them.

Sizes are bounded before anything is built: at most MAX_IMAGES images, seeds 0 ... MAX_SEED. The frames
of one [rotation] or [orientations] differ only in their generated flags (-phi, -misset), their seed and
their file names: a few of them (the first, the last, one of each sign pattern of the generated numbers)
are parsed and checked as `nbnumba simulate` would, the others are built from them once those are shown
to parse alike (see _Generator). Before a run writes anything, check_writes compares every path it would
write with every path it reads and with each other.
"""
import functools
import hashlib
import json
import math
import os
import re
import shlex
import string
from dataclasses import fields
from typing import NamedTuple

from ..errors import NanoBraggError
from ..sampling import RTD


OUTPUT_FLAGS = {"floatfile": "-floatfile", "intfile": "-intfile", "noisefile": "-noisefile", "pgmfile": "-pgmfile",
                "nxsfile": "-nxsfile", "cbffile": "-cbffile", "pngfile": "-pngfile"}
# the configuration field of each output kind
OUTPUT_FIELDS = {"floatfile": "floatfilename", "intfile": "intfilename", "noisefile": "noisefilename",
                 "pgmfile": "pgmfilename", "nxsfile": "nxsfile", "cbffile": "cbffile", "pngfile": "pngfile"}
DEFAULT_OUTPUTS = {"floatfile": "{id}.bin", "noisefile": "{id}.img"}
DEFAULT_SEED = 1
SWEEP = "sweep"             # [outputs] key of the manifest's one rotation-series file
MAX_IMAGES = 100_000        # images in one manifest, checked before any job is built (about 3 kB of memory each)
MAX_SEED = 2 ** 31 - 1      # nanoBragg's -seed is a C int; the seeds of a manifest are 0 ... MAX_SEED
MAX_MANIFEST_BYTES = 256 << 20     # a manifest file is read whole: no more than this
NAME_MAX = 255              # bytes in a file name (POSIX NAME_MAX)

_TOP_KEYS = {"base", "outputs", "seed", "image", "rotation", "orientations"}
_IMAGE_KEYS = {"id", "args"}
_ROTATION_KEYS = {"prefix", "start", "osc", "frames", "args"}
_ORIENTATION_KEYS = {"prefix", "count", "seed", "args"}
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*\Z")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")     # characters no name or script line may hold
_INDEX_SPEC = re.compile(r"(0[1-9][0-9]?)?d?\Z")     # {index}, {index:05d}, {index:03}, {index:d}
_WHERE = object()           # key of an image mapping that names its place (no TOML or JSON key can be it)

# nanoBragg flags whose value is an input file (resolved against the manifest's folder)
_INPUT_FLAGS = ("-img", "-mask", "-mat", "-hkl", "-stol", "-4stol", "-Q", "-sourcefile")
# the Params fields of the files a job reads
_INPUT_FIELDS = (("-hkl", "hklfilename"), ("-mat", "matfilename"), ("-sourcefile", "sourcefilename"),
                 ("-stol", "stolfilename"), ("-mask", "maskfilename"), ("-img", "imginfilename"))
# flags that choose the files written: the manifest's [outputs] does that in a batch
_OUTPUT_CHOICE_FLAGS = ("-floatfile", "-intfile", "-pgmfile", "-noisefile", "-nonoise", "-nopgm", "-dump", "-nxsfile",
                        "-cbffile", "-pngfile")


class Job(NamedTuple):
    id: str
    index: int                  # place in the manifest (0-based): images, then rotation frames, then orientations
    argv: tuple                 # `nbnumba simulate` arguments, to be run in the output folder
    outputs: tuple              # ((kind, file name), ...) in OUTPUT_FLAGS order
    seed: int                   # the noise seed the image uses (C's -seed value)
    sweep: str = None           # [outputs] sweep: the rotation-series file this [rotation] frame joins (else None)
    inputs: tuple = ()          # ((flag, absolute path), ...) of the files the image reads

    def files(self):
        """Every file the job leaves in the output folder: its outputs, then the sidecar."""
        return [name for _, name in self.outputs] + [self.id + ".json"]


class Manifest(NamedTuple):
    path: str                   # absolute path of the manifest file ("" for an in-memory job list)
    jobs: list


@functools.lru_cache(maxsize=None)
def _flags(names):
    """The flags of the registry named in the tuple `names`."""
    from ..cli.flags import REGISTRY
    return tuple(f for f in REGISTRY if f.name in names)


def _fires(tok, flags):
    """The first of `flags` that nanoBragg's parser would fire for token `tok`, or None."""
    if not tok.startswith("-"):
        return None
    for f in flags:
        if f.match(tok):
            return f
    return None


def _split(value, where):
    if isinstance(value, str):
        try:
            tokens = shlex.split(value)
        except ValueError as e:
            raise NanoBraggError("%s: cannot split the flags: %s" % (where, e)) from None
    elif isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        tokens = [str(v) for v in value]
    else:
        raise NanoBraggError("%s: flags must be a string or a list of strings, not %s" % (where, _short(value)))
    for tok in tokens:
        if "\x00" in tok:
            raise NanoBraggError("%s: %r: a flag cannot hold a NUL character" % (where, tok))
    return tokens


def _short(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _resolve_inputs(tokens, folder, where):
    """tokens with the value of every input-file flag made absolute (relative to `folder`); a flag that
    chooses outputs is refused (the manifest's [outputs] chooses them)."""
    inputs, choices = _flags(_INPUT_FLAGS), _flags(_OUTPUT_CHOICE_FLAGS)
    out = list(tokens)
    for i, tok in enumerate(tokens):
        f = _fires(tok, choices)
        if f is not None:
            raise NanoBraggError("%s: %s is not allowed in a batch: the files written are chosen by [outputs] "
                                 "(and the Fdump.bin cache is not used)" % (where, tok))
        if _fires(tok, inputs) is not None and i + 1 < len(tokens) and folder:
            value = tokens[i + 1]
            if not os.path.isabs(value) and not value.startswith("-"):
                out[i + 1] = os.path.normpath(os.path.join(folder, value))
    return out


def _number(table, key, kind, where, default=None, low=None, high=None):
    """table[key] (or the default) as an int or a finite float in [low, high]; NanoBraggError otherwise."""
    v = table.get(key, default)
    if v is None:
        raise NanoBraggError("%s: %s is required" % (where, key))
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise NanoBraggError("%s: %s must be an integer, not %s" % (where, key, _short(v)))
    if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float))
                          or not math.isfinite(v) or abs(v) > 1e300):
        raise NanoBraggError("%s: %s must be a finite number, not %s" % (where, key, _short(v)))
    if low is not None and v < low:
        raise NanoBraggError("%s: %s = %s must be >= %s" % (where, key, _short(v), low))
    if high is not None and v > high:
        raise NanoBraggError("%s: %s = %s must be <= %s" % (where, key, _short(v), high))
    return float(v) if kind is float else v


def _text(table, key, where, default=None):
    v = table.get(key, default)
    if not isinstance(v, str):
        raise NanoBraggError("%s: %s must be a string, not %s" % (where, key, _short(v)))
    return v


def _unknown(table, known, where):
    for key in table:
        if key is not _WHERE and key not in known:
            raise NanoBraggError("%s: unknown key %s (known: %s)" % (where, _short(key), ", ".join(sorted(known))))


def _tables(doc, key, where):
    """[key] or [[key]]: a list of tables."""
    v = doc.get(key, [])
    v = [v] if isinstance(v, dict) else v
    if not isinstance(v, list) or not all(isinstance(t, dict) for t in v):
        raise NanoBraggError("%s: [%s] must be a table or an array of tables" % (where, key))
    return v


def frame_id(prefix, i):
    """Frame or image i (0-based) of a generator: prefix and i+1 as five digits (prefix00001)."""
    return "%s%05d" % (prefix, i + 1)


def random_misset(seed):
    """Angles (degrees) about x, y, z for nanoBragg's -misset (rotate about x, then y, then z, in the lab
    frame) of an orientation drawn uniformly from all rotations, reproducibly from `seed`."""
    import numpy as np
    u1, u2, u3 = np.random.default_rng(seed).random(3)
    # Shoemake's uniform random unit quaternion
    q = (math.sqrt(1 - u1) * math.sin(2 * math.pi * u2), math.sqrt(1 - u1) * math.cos(2 * math.pi * u2),
         math.sqrt(u1) * math.sin(2 * math.pi * u3), math.sqrt(u1) * math.cos(2 * math.pi * u3))
    x, y, z, w = q
    r20 = 2 * (x * z - w * y)
    r21 = 2 * (y * z + w * x)
    r22 = 1 - 2 * (x * x + y * y)
    r10 = 2 * (x * y + w * z)
    r00 = 1 - 2 * (y * y + z * z)
    # R = Rz(rz) Ry(ry) Rx(rx)
    ry = -math.asin(max(-1.0, min(1.0, r20)))
    rx = math.atan2(r21, r22)
    rz = math.atan2(r10, r00)
    return tuple(math.degrees(a) for a in (rx, ry, rz))


def _read_doc(path):
    """The manifest as a mapping: TOML, or JSON Lines (.jsonl) as {"image": [{"id", "args"}, ...]}."""
    from ..io.images import open_input
    try:
        with open_input(path) as fh:        # a FIFO nobody writes to reads as empty, never waits
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror or e)) from None
    except ValueError as e:                 # a NUL in the path
        raise NanoBraggError("%r: not a file name (%s)" % (path, e)) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise NanoBraggError("%s: more than %d bytes: not a manifest (split a bigger set into several)"
                             % (path, MAX_MANIFEST_BYTES))
    if path.endswith((".jsonl", ".ndjson")):
        images = []
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except (ValueError, RecursionError) as e:
                raise NanoBraggError("%s, line %d: not JSON: %s" % (path, n, e)) from None
            if not isinstance(obj, dict):
                raise NanoBraggError("%s, line %d: each line must be an object {\"id\": ..., \"args\": ...}"
                                     % (path, n))
            _unknown(obj, _IMAGE_KEYS, "%s, line %d" % (path, n))
            obj[_WHERE] = "%s, line %d" % (path, n)
            images.append(obj)
            if len(images) > MAX_IMAGES:
                raise NanoBraggError("%s, line %d: more than %d images (MAX_IMAGES): split the manifest"
                                     % (path, n, MAX_IMAGES))
        return {"image": images}
    try:
        import tomllib
    except ModuleNotFoundError:         # Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise NanoBraggError("%s: not UTF-8 text (%s)" % (path, e)) from None
    except tomllib.TOMLDecodeError as e:
        raise NanoBraggError("%s: bad TOML: %s" % (path, e)) from None
    except RecursionError:
        raise NanoBraggError("%s: bad TOML: nested too deeply" % path) from None


def read_manifest(path):
    """The Manifest of a TOML or JSON Lines file; NanoBraggError (exit 9) for anything wrong in it."""
    path = os.path.abspath(os.fsdecode(path))
    doc = _read_doc(path)
    return Manifest(path, build_jobs(doc, os.path.dirname(path), path))


def jobs_from_list(items, folder=None):
    """Jobs from an in-memory list: argv strings or lists (ids 00001, ...), or {"id", "args"} mappings.
    Relative input files are taken from `folder` (default: the working directory)."""
    images = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            images.append(dict(item))
            images[-1][_WHERE] = "job %d" % i
        else:
            images.append({"id": frame_id("", i), "args": item, _WHERE: "job %d" % i})
        if len(images) > MAX_IMAGES:
            raise NanoBraggError("jobs: more than %d images (MAX_IMAGES)" % MAX_IMAGES)
    return build_jobs({"image": images}, os.path.abspath(folder or os.getcwd()), "jobs")


# ---------------------------------------------------------------- names: templates, ids, files

def _check_template(kind, template, name):
    """An [outputs] template: text with {id} (required) and {index} (optionally zero-padded, {index:05d}),
    nothing else: no attribute, index, conversion or nested field."""
    where = "%s: [outputs] %s" % (name, kind)
    if not isinstance(template, str):
        raise NanoBraggError("%s must be a string, not %s" % (where, _short(template)))
    where += " = %s" % _short(template)
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:
        raise NanoBraggError("%s: not a file name template: %s" % (where, e)) from None
    has_id = False
    for literal, field, spec, conversion in parts:
        if "/" in literal or CONTROL.search(literal):
            raise NanoBraggError("%s: a template names a plain file in --out (no '/', no control characters)"
                                 % where)
        if field is None:
            continue
        if field not in ("id", "index"):
            raise NanoBraggError("%s: only {id} and {index} may be used, not {%s}" % (where, field))
        if conversion is not None:
            raise NanoBraggError("%s: {%s!%s}: no conversion may be used" % (where, field, conversion))
        if field == "id" and spec:
            raise NanoBraggError("%s: {id:%s}: {id} takes no format" % (where, spec))
        if field == "index" and not _INDEX_SPEC.match(spec):
            raise NanoBraggError("%s: {index:%s}: {index} takes only a zero-padded width, such as {index:05d}"
                                 % (where, spec))
        has_id = has_id or field == "id"
    if not has_id:
        raise NanoBraggError("%s must contain {id}" % where)


def _name_problem(file_name):
    """Why `file_name` cannot be a file the batch writes in --out, or None."""
    if not file_name or file_name in (".", ".."):
        return "is no file name"
    if "/" in file_name or CONTROL.search(file_name):
        return "must be a plain file name (no '/', no control characters)"
    if file_name.startswith((".", "-")):
        return "must not start with '.' or '-'"
    if len(file_name.encode("utf-8", "surrogateescape")) > NAME_MAX:
        return "is longer than %d bytes" % NAME_MAX
    return None


def _check_sweep_name(templates, sweep, name):
    where = "%s: [outputs] sweep" % name
    if not isinstance(sweep, str):
        raise NanoBraggError("%s must be a string, not %s" % (where, _short(sweep)))
    if "{" in sweep or "}" in sweep:
        raise NanoBraggError("%s = %r: one file for the whole manifest, without {id} or {index}" % (where, sweep))
    problem = _name_problem(sweep)
    if problem:
        raise NanoBraggError("%s = %s %s" % (where, _short(sweep), problem))
    if "noisefile" not in templates and "intfile" not in templates:
        raise NanoBraggError("%s: the sweep is assembled from the noise or int images: [outputs] must also "
                             "name noisefile (or intfile)" % where)


class _Names:
    """Every file name the batch writes in --out, with its owner: no two may be one."""

    def __init__(self, sweep):
        self.owner = {}
        self.sweep = sweep

    def add(self, ident, outputs, where, name):
        """The outputs of image `ident`, then its sidecar and error file."""
        owner = self.owner
        for kind, file_name in outputs + (("sidecar", ident + ".json"), ("error file", ident + ".error")):
            problem = _name_problem(file_name)
            if problem:
                raise NanoBraggError("%s: %s name %s of id %r %s"
                                     % (name, _kind(kind), _short(file_name), ident, problem))
            other = owner.get(file_name)
            if other is not None:
                raise NanoBraggError("%s: id %r would write %s as its %s, which is also %s"
                                     % (where, ident, file_name, _kind(kind), _what(other)))
            if file_name == self.sweep:
                raise NanoBraggError("%s: [outputs] sweep = %r: id %r writes a file of that name (its %s)"
                                     % (name, file_name, ident, _kind(kind)))
            owner[file_name] = (ident, kind)


def _kind(kind):
    return kind if kind in ("sidecar", "error file") else "[outputs] " + kind


def _what(owner):
    ident, kind = owner
    return "the %s of id %r" % (_kind(kind), ident)


# ---------------------------------------------------------------- building the jobs

def _count_images(seed, name, images, rotations, orientations):
    """(rotation numbers, orientation numbers) checked, and the images counted, before any is built."""
    rot, ori = [], []
    for n, r in enumerate(rotations):
        where = "%s: [rotation]%s" % (name, " %d" % (n + 1) if n else "")
        _unknown(r, _ROTATION_KEYS, where)
        prefix = _text(r, "prefix", where, "")
        start = _number(r, "start", float, where, 0.0)
        osc = _number(r, "osc", float, where)
        if not osc > 0:
            raise NanoBraggError("%s: osc = %s must be > 0" % (where, _short(osc)))
        frames = _number(r, "frames", int, where, low=1)
        _bounded("frames", frames, where)
        last = start + (frames - 1) * osc
        if not math.isfinite(last) or abs(last) > 1e300:
            raise NanoBraggError("%s: the last frame would start at phi %r: not a finite number" % (where, last))
        rot.append((where, prefix, start, osc, frames, r))
    for n, o in enumerate(orientations):
        where = "%s: [orientations]%s" % (name, " %d" % (n + 1) if n else "")
        _unknown(o, _ORIENTATION_KEYS, where)
        prefix = _text(o, "prefix", where, "")
        count = _number(o, "count", int, where, low=1)
        _bounded("count", count, where)
        oseed = _number(o, "seed", int, where, seed, low=0, high=MAX_SEED)
        if oseed + count - 1 > MAX_SEED:
            raise NanoBraggError("%s: seed %d + count %d - 1 = %d: the seeds of the orientations must be <= %d"
                                 % (where, oseed, count, oseed + count - 1, MAX_SEED))
        ori.append((where, prefix, oseed, count, o))
    total = len(images) + sum(r[4] for r in rot) + sum(o[3] for o in ori)
    if total > MAX_IMAGES:
        raise NanoBraggError("%s: %d images: more than %d (MAX_IMAGES) in one manifest; split it into several"
                             % (name, total, MAX_IMAGES))
    return rot, ori, total


def _bounded(key, n, where):
    if n > MAX_IMAGES:
        raise NanoBraggError("%s: %s = %d: more than %d images (MAX_IMAGES) in one manifest; split it into several"
                             % (where, key, n, MAX_IMAGES))


def build_jobs(doc, folder, name):
    """Every job of a parsed manifest `doc` (inputs relative to `folder`; `name` names it in messages)."""
    if not isinstance(doc, dict):
        raise NanoBraggError("%s: a manifest is a table of keys" % name)
    _unknown(doc, _TOP_KEYS, name)
    base = _resolve_inputs(_split(doc.get("base", ""), "%s: base" % name), folder, "%s: base" % name)
    templates = doc.get("outputs", DEFAULT_OUTPUTS)
    if not isinstance(templates, dict) or not templates:
        raise NanoBraggError("%s: [outputs] must name at least one of %s" % (name, ", ".join(OUTPUT_FLAGS)))
    _unknown(templates, set(OUTPUT_FLAGS) | {SWEEP}, "%s: [outputs]" % name)
    templates = dict(templates)
    sweep = templates.pop(SWEEP, None)
    if not templates:
        raise NanoBraggError("%s: [outputs] must name at least one of %s" % (name, ", ".join(OUTPUT_FLAGS)))
    if sweep is not None:
        _check_sweep_name(templates, sweep, name)
    for kind, template in templates.items():
        _check_template(kind, template, name)

    seed = _number(doc, "seed", int, name, DEFAULT_SEED, low=0, high=MAX_SEED)
    images = _tables(doc, "image", name)
    rotations, orientations = _tables(doc, "rotation", name), _tables(doc, "orientations", name)
    rotations, orientations, total = _count_images(seed, name, images, rotations, orientations)
    if total and seed + total - 1 > MAX_SEED:
        raise NanoBraggError("%s: seed %d + %d images - 1 = %d: image i's seed (seed + i) must be <= %d"
                             % (name, seed, total, seed + total - 1, MAX_SEED))

    b = _Builder(base, templates, seed, sweep, name)
    for n, image in enumerate(images):
        image = dict(image)
        where = image.pop(_WHERE, None) or "%s: [[image]] %d" % (name, n + 1)
        _unknown(image, _IMAGE_KEYS, where)
        ident = image.get("id")
        if not isinstance(ident, str):
            raise NanoBraggError("%s: id must be a string, not %s" % (where, _short(ident)))
        args = _resolve_inputs(_split(image.get("args", ""), "%s: args" % where), folder, where)
        b.single(ident, where, args)
    for where, prefix, start, osc, frames, r in rotations:
        args = _resolve_inputs(_split(r.get("args", ""), "%s: args" % where), folder, where)
        osc_text = repr(osc)
        b.generator(where, prefix, args, frames, "phi0", lambda i, start=start, osc=osc, osc_text=osc_text:
                    ("-phi", repr(start + i * osc), "-osc", osc_text))
    for where, prefix, oseed, count, o in orientations:
        args = _resolve_inputs(_split(o.get("args", ""), "%s: args" % where), folder, where)
        b.generator(where, prefix, args, count, "misset",
                    lambda i, oseed=oseed: ("-misset",) + tuple(repr(a) for a in random_misset(oseed + i)))
    if not b.jobs:
        raise NanoBraggError("%s: no image: give [[image]], [rotation] or [orientations]" % name)
    if sweep is not None and not rotations:
        raise NanoBraggError("%s: [outputs] sweep = %r collects the frames of a [rotation]: the manifest has none"
                             % (name, sweep))
    return b.jobs


def _check_id(ident, where):
    if not _ID.match(ident):
        raise NanoBraggError("%s: id %s cannot name files (letters, digits, _ . + = - only, not starting "
                             "with . or -)" % (where, _short(ident)))


class _Builder:
    """The jobs of a manifest, in manifest order, with the checks that span them: ids, file names, sweep."""

    def __init__(self, base, templates, seed, sweep, name):
        self.base, self.seed, self.sweep, self.name = base, seed, sweep, name
        self.templates = [(kind, templates[kind]) for kind in OUTPUT_FLAGS if kind in templates]
        self.kinds = tuple(kind for kind, _ in self.templates)
        self.jobs = []
        self.seen = {}
        self.names = _Names(sweep)
        self.frames = _SweepCheck(templates) if sweep is not None else None

    def _outputs(self, ident, index):
        return tuple((kind, template.format(id=ident, index=index)) for kind, template in self.templates)

    def _claim(self, ident, index, where):
        if ident in self.seen:
            raise NanoBraggError("%s: duplicate id %r (also in %s)" % (where, ident, self.seen[ident]))
        self.seen[ident] = where
        outputs = self._outputs(ident, index)
        self.names.add(ident, outputs, where, self.name)
        return outputs

    def single(self, ident, where, args):
        _check_id(ident, where)
        index = len(self.jobs)
        outputs = self._claim(ident, index, where)
        job, p = _job(ident, index, self.base + args, (), outputs, self.seed + index, where, None)
        self.jobs.append(job)

    def generator(self, where, prefix, args, n, varying, generated):
        """The n frames of a [rotation] (varying "phi0") or [orientations] ("misset"); generated(i): the
        flags frame i adds."""
        _check_id(frame_id(prefix, 0), where)
        user = self.base + args
        first = len(self.jobs)
        ids = [frame_id(prefix, i) for i in range(n)]
        outputs = [self._claim(ident, first + i, where) for i, ident in enumerate(ids)]
        gen = [generated(i) for i in range(n)]
        g = _Generator(self, where, user, ids, outputs, gen, varying, first)
        self.jobs.extend(g.jobs())

    def sweep_of(self, varying):
        """The sweep file the frames of a generator join: a [rotation]'s ("phi0") only."""
        return self.sweep if varying == "phi0" else None


class _Generator:
    """The frames of one generator. Frame i's argv is the same tokens as every other frame's but for
    the generated numbers (-phi's, or -misset's three), its -seed value and its output names; nanoBragg's
    parser reads a token's text only through the numbers it converts, whether it starts with '-', and
    the flags it fires when it does. So the frames are parsed and checked in full for a few probes:
    the first, the last, and the first of each pattern of signs of the generated numbers. Where the
    probes' configurations differ only in the fields those tokens set (phi0 or misset, seed, output
    names), and each holds the value its tokens say, every frame between parses alike, and is built
    without parsing: its negative numbers are checked to fire no flag, its values are those of the
    tokens. Otherwise each frame is parsed and checked on its own (as for [[image]])."""

    def __init__(self, builder, where, user, ids, outputs, gen, varying, first):
        self.b, self.where, self.user, self.ids, self.outputs, self.gen = builder, where, user, ids, outputs, gen
        self.varying, self.first = varying, first
        self.sets_seed = any(_fires(t, _flags(("-seed",))) for t in user)

    def jobs(self):
        b, n = self.b, len(self.ids)
        probes = {}
        for i in range(n):
            probes.setdefault(tuple(t.startswith("-") for t in self._values(i)), i)
        probes = sorted(set(probes.values()) | {0, n - 1})
        parsed = {i: self._parsed(i) for i in probes}
        fast = n > len(probes) and self._alike(parsed)
        jobs = []
        for i in range(n):
            if i in parsed:
                job, p = parsed[i]
            elif fast and not any(t.startswith("-") and _fires_any(t) for t in self._values(i)):
                job, p = self._built(i, parsed[0][0]), None
            else:
                job, p = self._parsed(i)
            jobs.append(job)
            if b.frames is not None and job.sweep:
                if p is not None:
                    b.frames.add(job, p, self.where)
                else:
                    b.frames.add_like(job, float(self.gen[i][1]) / RTD if self.varying == "phi0" else None,
                                      self.where)
        return jobs

    def _values(self, i):
        """The generated numbers of frame i: -phi's value, or -misset's three."""
        return self.gen[i][1:2] if self.varying == "phi0" else self.gen[i][1:4]

    def _parsed(self, i):
        b = self.b
        return _job(self.ids[i], self.first + i, self.user, self.gen[i], self.outputs[i], b.seed + self.first + i,
                    self.where, b.sweep_of(self.varying))

    def _built(self, i, model):
        """Frame i as the probes show it parses: `model` is the first frame's job."""
        argv = _argv(self.user, self.gen[i], self.outputs[i], self.b.seed + self.first + i, self.sets_seed)
        seed = model.seed if self.sets_seed else self.b.seed + self.first + i
        return Job(self.ids[i], self.first + i, argv, self.outputs[i], seed, self.b.sweep_of(self.varying),
                   model.inputs)

    def _alike(self, parsed):
        """Whether the probes' configurations differ only as their generated tokens say they should."""
        varying = {self.varying} | {OUTPUT_FIELDS[k] for k in self.b.kinds}
        if not self.sets_seed:
            varying.add("seed")
        state = None
        for i, (job, p) in parsed.items():
            gen = self.gen[i]
            if self.varying == "phi0" and p.phi0 != float(gen[1]) / RTD:
                return False
            if self.varying == "misset" and list(p.misset) != [1.0] + [float(v) / RTD for v in self._values(i)]:
                return False
            if not self.sets_seed and -p.seed != self.b.seed + self.first + i:
                return False
            if any(getattr(p, OUTPUT_FIELDS[k]) != f for k, f in self.outputs[i]):
                return False
            key = _state(p, varying)
            if state is None:
                state = key
            elif key != state:
                return False
        return True


def _fires_any(tok):
    """Whether any of nanoBragg's flags (either pass) or our own options would take `tok` as a flag."""
    from ..cli.argv import OUR_OPTIONS
    from ..cli.flags import PASS1, PASS2
    return tok in OUR_OPTIONS or any(f.match(tok) for f in PASS1) or any(f.match(tok) for f in PASS2)


def _key(v):
    import numpy as np
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_key(x) for x in v)
    if isinstance(v, float):
        return repr(v)
    return v


def _state(p, leave_out):
    """Everything a Params holds, but the fields in `leave_out`, as a comparable value."""
    out = []
    for name, value in sorted(p.__dict__.items()):
        if hasattr(value, "__dataclass_fields__"):
            out.append((name, tuple((k, _key(v)) for k, v in sorted(value.__dict__.items()) if k not in leave_out)))
        elif name not in leave_out:
            out.append((name, _key(value)))
    return tuple(out)


def sweep_source(outputs):
    """(image kind, output, file name) of a job's image that goes into the sweep: ("noise", "noisefile",
    name), else ("int", "intfile", name); `outputs`: (output, file name) pairs."""
    names = dict(outputs)
    return ("noise", "noisefile", names["noisefile"]) if "noisefile" in names else ("int", "intfile", names["intfile"])


# the settings the frames of a sweep must share: the file holds one detector, beam and spindle for them all
_SWEEP_DETECTOR_SKIP = ("pixels", "dials_origin", "imginfileimage", "maskimage")
_SWEEP_SHARED = ("lambda0", "beam_vector", "polar_vector", "flux", "exposure", "beamsize", "spindle_vector",
                 "detector_thicksteps", "detector_thickstep")


def _sweep_settings(p, kind):
    """[(name, repr of value)] of what a sweep's frames must share (NaN equals NaN as repr)."""
    names = [f.name for f in fields(type(p.detector)) if f.name not in _SWEEP_DETECTOR_SKIP] + list(_SWEEP_SHARED)
    if kind == "int":
        names.append("intfile_scale")
    out = [(n, repr(getattr(p, n))) for n in names]
    mask = p.maskimage
    out.append(("-mask image", hashlib.sha256(mask.tobytes()).hexdigest() if mask is not None else ""))
    return out


class _SweepCheck:
    """The images of a manifest with [outputs] sweep, checked one by one as they are built: a NanoBraggError
    for the first that cannot join the sweep (the first image sets what the others must match)."""

    def __init__(self, templates):
        self.kind = sweep_source(templates.items())[0]
        self.count = 0
        self.first = None           # (id, settings, phi0, osc) of the first image
        self.last = None            # (settings, phi0, osc) of the last image added with its Params

    def add(self, job, p, where):
        from ..sampling import phi_steps
        what = "%s: [outputs] sweep" % where
        if p.curved_detector:
            raise NanoBraggError("%s: NXmx cannot describe a curved detector (-curved_det)" % what)
        if self.kind == "int" and not p.intfile_scale > 0.0:
            raise NanoBraggError("%s: the int images would each have their own scale: give -scale (or name a "
                                 "noisefile)" % what)
        osc = phi_steps(p.phisteps, p.osc, p.phistep)[1]
        if not osc > 0.0:
            raise NanoBraggError("%s: image %r has no oscillation: a sweep needs -osc > 0" % (what, job.id))
        settings = _sweep_settings(p, self.kind)
        self.last = (settings, float(p.phi0), osc)
        self._add(job, settings, float(p.phi0), osc, what)

    def add_like(self, job, phi0, where):
        """An image whose configuration is that of the last one added with add(), but for phi0 (None:
        the same phi0 too)."""
        settings, last_phi0, osc = self.last
        self._add(job, settings, last_phi0 if phi0 is None else phi0, osc, "%s: [outputs] sweep" % where)

    def _add(self, job, settings, phi, osc, what):
        if self.first is None:
            self.first = (job.id, settings, phi, osc)
        first_id, first_settings, phi0, first_osc = self.first
        if settings is not first_settings:
            for (n, value), (_, expected) in zip(settings, first_settings):
                if value != expected:
                    raise NanoBraggError("%s: image %r has %s = %s, image %r %s: the images of a sweep share the "
                                         "detector, beam and spindle" % (what, job.id, n, value, first_id, expected))
        if osc != first_osc:
            raise NanoBraggError("%s: image %r has -osc %g, image %r %g: a sweep has one oscillation"
                                 % (what, job.id, osc * RTD, first_id, first_osc * RTD))
        expected = phi0 + self.count * osc
        if abs(phi - expected) > 1e-6 * osc:
            raise NanoBraggError("%s: image %r starts at phi %g, not %g: in a sweep each image starts where the "
                                 "one before it ends" % (what, job.id, phi * RTD, expected * RTD))
        self.count += 1


def _argv(user, generated, outputs, default_seed, sets_seed):
    """The job's argv: the manifest's flags, then what the batch adds (generator flags, output names, the
    seed, -skip for the files nanoBragg.c would write that [outputs] leaves out)."""
    kinds = dict(outputs)
    tail = list(generated)
    for kind, flag in OUTPUT_FLAGS.items():
        if kind in kinds:
            tail += [flag, kinds[kind]]
    if "noisefile" not in kinds:
        tail.append("-nonoise")
    if "pgmfile" not in kinds:
        tail.append("-nopgm")
    skip = [k for k in ("floatfile", "intfile") if k not in kinds] + ["dumpfile"]
    tail += ["-skip", ",".join(skip)]
    if not sets_seed:
        tail += ["-seed", str(default_seed)]
    return tuple(user) + tuple(tail)


def _job(ident, index, user, generated, outputs, default_seed, where, sweep=None):
    """The job and its Params, its argv (_argv) checked as `nbnumba simulate` would check it."""
    # flags appended after -misset_seed N would be read as -misset angles (C 561): keep it off the end
    for tok in user[-2:]:
        if tok.startswith("-") and "-misset_seed" in tok:
            raise NanoBraggError("%s: %s must not end the flags: nanoBragg would read the flags the batch adds "
                                 "after it as -misset angles; move it earlier" % (where, tok))
    sets_seed = any(_fires(t, _flags(("-seed",))) for t in user)
    argv = _argv(user, generated, outputs, default_seed, sets_seed)
    p = check_argv(argv, where)
    inputs = tuple((flag, os.path.abspath(getattr(p, name))) for flag, name in _INPUT_FIELDS
                   if getattr(p, name) is not None)
    return Job(ident, index, argv, outputs, -p.seed, sweep, inputs), p


def check_argv(argv, where):
    """The Params of argv, parsed and checked as `nbnumba simulate` would before rendering; a
    NanoBraggError naming `where` for anything it would refuse."""
    from ..checks import check_values
    from ..cli.argv import parse_argv
    warnings = []
    try:
        p = parse_argv(list(argv), now=0, warn=warnings.append, out=lambda line: None)
        if p.misset[0] == -1.0 and not any(_fires(t, _flags(("-misset_seed",))) for t in argv):
            raise NanoBraggError("-misset random needs -misset_seed N in a batch (nanoBragg's default seed is the "
                                 "clock); or use [orientations]")
        check_values(p)
        for flag, name in (("-hkl", p.hklfilename), ("-mat", p.matfilename), ("-sourcefile", p.sourcefilename),
                           ("-stol", p.stolfilename)):
            if name is not None and not os.access(name, os.R_OK):
                raise NanoBraggError("%s %s: %s" % (flag, name, "not readable" if os.path.exists(name)
                                                    else "no such file"))
        if p.hklfilename is None and p.default_F == 0.0:
            raise NanoBraggError("no structure factors: give -hkl FILE or -default_F F")
        if p.matfilename is None and p.a[0] == 0.0:
            raise NanoBraggError("no unit cell: give -cell a b c alpha beta gamma or -mat FILE")
    except NanoBraggError as e:
        raise NanoBraggError("%s: %s" % (where, e)) from None
    except OSError as e:
        raise NanoBraggError("%s: %s: %s" % (where, e.filename or "", e.strerror or e)) from None
    except (ValueError, OverflowError) as e:      # text no C function would read (UnicodeError is a ValueError)
        raise NanoBraggError("%s: cannot read the flags: %s" % (where, e)) from None
    return p


# ---------------------------------------------------------------- what a run writes and reads

def written_names(jobs):
    """{file name in --out: (id, what)} of every file a run of `jobs` may write there: the outputs, the
    sidecars and error files, the sweep (id None). NanoBraggError where two are one name."""
    names = {}
    for job in jobs:
        for file_name, owner in [(name, (job.id, kind)) for kind, name in job.outputs] + [
                (job.id + ".json", (job.id, "sidecar")), (job.id + ".error", (job.id, "error file"))]:
            other = names.setdefault(file_name, owner)
            if other is not owner:
                raise NanoBraggError("%s: %s and %s would be one file" % (file_name, _said(owner), _said(other)))
    sweep = sweep_file(jobs)
    if sweep:
        other = names.setdefault(sweep, (None, "sweep"))
        if other[0] is not None:
            raise NanoBraggError("%s: the [outputs] sweep and %s would be one file" % (sweep, _said(other)))
    return names


def sweep_file(jobs):
    """The manifest's [outputs] sweep file name, or None: what its [rotation] frames carry."""
    return next((job.sweep for job in jobs if job.sweep), None)


def sweep_jobs(jobs):
    """The jobs whose images make the sweep, in manifest order: the [rotation] frames."""
    return [job for job in jobs if job.sweep]


def _said(what):
    if isinstance(what, str):
        return what
    return "the [outputs] sweep" if what[0] is None else _what(what)


def _identity(path):
    """(real path, (device, inode) or None where nothing is there yet)."""
    real = os.path.realpath(path)
    try:
        st = os.stat(real)
    except (OSError, ValueError):
        return real, None
    return real, (st.st_dev, st.st_ino)


def check_writes(jobs, out_dir, reads=(), writes=()):
    """NanoBraggError (exit 9, naming both) where a path a run of `jobs` into out_dir would write is a
    path it reads, or where two things it writes are one file; call it before anything is written.

    Written: every job's outputs, sidecar and error file, and the sweep, in out_dir (symbolic links
    there followed, as the writes follow them), and `writes`: (what, path) pairs such as ("--log", path).
    Read: every job's input files, and `reads`: (what, path) pairs such as ("the manifest", path). Paths
    are compared resolved (realpath) and as files (device and inode, so a hard link is the same file)."""
    read_real, read_ids = {}, {}

    def read(what, path):
        real, ident = _identity(path)
        read_real.setdefault(real, what)
        if ident is not None:
            read_ids.setdefault(ident, what)

    for what, path in reads:
        read(what, path)
    seen = set()
    for job in jobs:
        if job.inputs and job.inputs not in seen:
            seen.add(job.inputs)
            for flag, path in job.inputs:
                read("%s %s (an input of id %r)" % (flag, path, job.id), path)

    names = written_names(jobs)
    out_real = os.path.realpath(out_dir)
    written_real, written_ids = {}, {}

    def write(what, path, real, ident):
        """what: a string, or an (id, kind) of written_names, formatted only for a message; path: the path
        to name in the message, or a file name in out_dir."""
        clash = read_real.get(real) or (read_ids.get(ident) if ident is not None else None)
        if clash is not None:
            raise NanoBraggError("%s: %s would be written over %s: a batch never writes over what it reads"
                                 % (os.path.join(out_dir, path), _said(what), clash))
        other = written_real.get(real) or (written_ids.get(ident) if ident is not None else None)
        if other is not None:
            raise NanoBraggError("%s: %s and %s would be one file"
                                 % (os.path.join(out_dir, path), _said(what), _said(other)))
        written_real[real] = what
        if ident is not None:
            written_ids[ident] = what

    existing = {}
    try:
        dev = os.stat(out_real).st_dev
        with os.scandir(out_real) as entries:
            for entry in entries:
                if entry.name in names:
                    if entry.is_symlink():
                        existing[entry.name] = _identity(entry.path)
                    else:
                        existing[entry.name] = (entry.path, (dev, entry.inode()))
    except (OSError, ValueError):
        pass                            # not there yet (or not a folder: the runner says so)
    head = os.path.join(out_real, "")
    for name, what in names.items():
        real, ident = existing.get(name) or (head + name, None)
        write(what, name, real, ident)
    for what, path in writes:
        real, ident = _identity(path)
        if real == out_real:
            raise NanoBraggError("%s: %s would be the --out folder itself" % (path, what))
        write(what, os.path.abspath(path), real, ident)
