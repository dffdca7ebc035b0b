"""The batch manifest: a TOML file (or JSON Lines of {"id", "args"}) turned into the list of jobs.

A job is one image: its id, its place in the manifest and the complete `nbnumba simulate` argument
list that renders it when run in the output folder (inputs as absolute paths, outputs as the plain
names the templates give). Everything is checked here, before any image is rendered: a bad manifest
is one NanoBraggError naming the file, line, key or id.

    base = "-cell 70 80 90 90 90 90 -hkl P1.hkl -N 5 -distance 100 -detpixels 256"
    seed = 1                                     # image i without its own -seed gets -seed seed+i
    [outputs]                                    # default: floatfile and noisefile
    floatfile = "{id}.bin"
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
noisefile is named; those need -scale) of every image, in manifest order, into one NXmx file as one
rotation scan (io.nexus.sweep_bytes), written by the runner once every image is done. The images must
form a sweep: the same detector, beam, spindle and -osc > 0 (the flags that set them identical), and
phi advancing by osc from one image to the next, as a [rotation] gives them.
"""
import hashlib
import json
import math
import os
import re
import shlex
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

_TOP_KEYS = {"base", "outputs", "seed", "image", "rotation", "orientations"}
_IMAGE_KEYS = {"id", "args"}
_ROTATION_KEYS = {"prefix", "start", "osc", "frames", "args"}
_ORIENTATION_KEYS = {"prefix", "count", "seed", "args"}
_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]*\Z")

# nanoBragg flags whose value is an input file (resolved against the manifest's folder)
_INPUT_FLAGS = ("-img", "-mask", "-mat", "-hkl", "-stol", "-4stol", "-Q", "-sourcefile")
# flags that choose the files written: the manifest's [outputs] does that in a batch
_OUTPUT_CHOICE_FLAGS = ("-floatfile", "-intfile", "-pgmfile", "-noisefile", "-nonoise", "-nopgm", "-dump", "-nxsfile",
                        "-cbffile", "-pngfile")


class Job(NamedTuple):
    id: str
    index: int                  # place in the manifest (0-based): images, then rotation frames, then orientations
    argv: tuple                 # `nbnumba simulate` arguments, to be run in the output folder
    outputs: tuple              # ((kind, file name), ...) in OUTPUT_FLAGS order
    seed: int                   # the noise seed the image uses (C's -seed value)
    sweep: str = None           # [outputs] sweep: the manifest's rotation-series file (same in every job)

    def files(self):
        """Every file the job leaves in the output folder: its outputs, then the sidecar."""
        return [name for _, name in self.outputs] + [self.id + ".json"]


class Manifest(NamedTuple):
    path: str                   # absolute path of the manifest file ("" for an in-memory job list)
    jobs: list


def _flags(names):
    from ..cli.flags import REGISTRY
    return [f for f in REGISTRY if f.name in names]


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
            return shlex.split(value)
        except ValueError as e:
            raise NanoBraggError("%s: cannot split the flags: %s" % (where, e)) from None
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return [str(v) for v in value]
    raise NanoBraggError("%s: flags must be a string or a list of strings" % where)


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


def _number(table, key, kind, where, default=None):
    v = table.get(key, default)
    if v is None:
        raise NanoBraggError("%s: %s is required" % (where, key))
    if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
        raise NanoBraggError("%s: %s must be an integer, not %r" % (where, key, v))
    if kind is float and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
        raise NanoBraggError("%s: %s must be a number, not %r" % (where, key, v))
    return v


def _text(table, key, where, default=None):
    v = table.get(key, default)
    if not isinstance(v, str):
        raise NanoBraggError("%s: %s must be a string, not %r" % (where, key, v))
    return v


def _unknown(table, known, where):
    for key in table:
        if key not in known:
            raise NanoBraggError("%s: unknown key %r (known: %s)" % (where, key, ", ".join(sorted(known))))


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
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise NanoBraggError("%s: %s" % (path, e.strerror)) from None
    if path.endswith((".jsonl", ".ndjson")):
        images = []
        for n, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as e:
                raise NanoBraggError("%s, line %d: not JSON: %s" % (path, n, e)) from None
            if not isinstance(obj, dict):
                raise NanoBraggError("%s, line %d: each line must be an object {\"id\": ..., \"args\": ...}" % (path, n))
            _unknown(obj, _IMAGE_KEYS, "%s, line %d" % (path, n))
            obj["_where"] = "%s, line %d" % (path, n)
            images.append(obj)
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


def read_manifest(path):
    """The Manifest of a TOML or JSON Lines file; NanoBraggError (exit 9) for anything wrong in it."""
    path = os.path.abspath(path)
    doc = _read_doc(path)
    return Manifest(path, build_jobs(doc, os.path.dirname(path), path))


def jobs_from_list(items, folder=None):
    """Jobs from an in-memory list: argv strings or lists (ids 00001, ...), or {"id", "args"} mappings.
    Relative input files are taken from `folder` (default: the working directory)."""
    images = []
    for i, item in enumerate(items):
        if isinstance(item, dict):
            images.append(dict(item, _where="job %d" % i))
        else:
            images.append({"id": frame_id("", i), "args": item, "_where": "job %d" % i})
    return build_jobs({"image": images}, os.path.abspath(folder or os.getcwd()), "jobs")


def build_jobs(doc, folder, name):
    """Every job of a parsed manifest `doc` (inputs relative to `folder`; `name` names it in messages)."""
    _unknown(doc, _TOP_KEYS, name)
    base = _resolve_inputs(_split(doc.get("base", ""), "%s: base" % name), folder, "%s: base" % name)
    seed = _number(doc, "seed", int, name, DEFAULT_SEED)
    templates = doc.get("outputs", DEFAULT_OUTPUTS)
    if not isinstance(templates, dict) or not templates:
        raise NanoBraggError("%s: [outputs] must name at least one of %s" % (name, ", ".join(OUTPUT_FLAGS)))
    _unknown(templates, set(OUTPUT_FLAGS) | {SWEEP}, "%s: [outputs]" % name)
    templates = dict(templates)
    sweep = templates.pop(SWEEP, None)
    if sweep is not None:
        _check_sweep_name(templates, sweep, name)
    for kind, template in templates.items():
        _text(templates, kind, "%s: [outputs]" % name)
        try:
            template.format(id="x", index=0)
        except (KeyError, IndexError, ValueError) as e:
            raise NanoBraggError("%s: [outputs] %s = %r: only {id} and {index} may be used (%s)"
                                 % (name, kind, template, e)) from None
        if "{id}" not in template:
            raise NanoBraggError("%s: [outputs] %s = %r must contain {id}" % (name, kind, template))

    # (id, where, extra tokens from the manifest, generated tokens)
    entries = []
    for n, image in enumerate(_tables(doc, "image", name)):
        where = image.pop("_where", "%s: [[image]] %d" % (name, n + 1))
        _unknown(image, _IMAGE_KEYS, where)
        ident = image.get("id")
        if not isinstance(ident, str):
            raise NanoBraggError("%s: id must be a string, not %r" % (where, ident))
        args = _resolve_inputs(_split(image.get("args", ""), "%s: args" % where), folder, where)
        entries.append((ident, where, args, []))
    for n, rot in enumerate(_tables(doc, "rotation", name)):
        where = "%s: [rotation]%s" % (name, " %d" % (n + 1) if n else "")
        _unknown(rot, _ROTATION_KEYS, where)
        prefix = _text(rot, "prefix", where, "")
        start, osc = _number(rot, "start", float, where, 0.0), _number(rot, "osc", float, where)
        frames = _number(rot, "frames", int, where)
        if frames < 1 or osc <= 0:
            raise NanoBraggError("%s: frames must be >= 1 and osc > 0" % where)
        args = _resolve_inputs(_split(rot.get("args", ""), "%s: args" % where), folder, where)
        for i in range(frames):
            entries.append((frame_id(prefix, i), where, args, ["-phi", repr(float(start + i * osc)),
                                                               "-osc", repr(float(osc))]))
    for n, ori in enumerate(_tables(doc, "orientations", name)):
        where = "%s: [orientations]%s" % (name, " %d" % (n + 1) if n else "")
        _unknown(ori, _ORIENTATION_KEYS, where)
        prefix = _text(ori, "prefix", where, "")
        count = _number(ori, "count", int, where)
        oseed = _number(ori, "seed", int, where, seed)
        if count < 1:
            raise NanoBraggError("%s: count must be >= 1" % where)
        args = _resolve_inputs(_split(ori.get("args", ""), "%s: args" % where), folder, where)
        for i in range(count):
            angles = random_misset(oseed + i)
            entries.append((frame_id(prefix, i), where, args, ["-misset"] + [repr(a) for a in angles]))
    if not entries:
        raise NanoBraggError("%s: no image: give [[image]], [rotation] or [orientations]" % name)

    seen, names = {}, {}
    jobs = []
    frames = _SweepCheck(templates) if sweep is not None else None
    for index, (ident, where, args, generated) in enumerate(entries):
        if not _ID.match(ident):
            raise NanoBraggError("%s: id %r cannot name files (letters, digits, _ . + = - only, not starting "
                                 "with . or -)" % (where, ident))
        if ident in seen:
            raise NanoBraggError("%s: duplicate id %r (also in %s)" % (where, ident, seen[ident]))
        seen[ident] = where
        outputs = tuple((kind, templates[kind].format(id=ident, index=index))
                        for kind in OUTPUT_FLAGS if kind in templates)
        for kind, file_name in outputs + (("sidecar", ident + ".json"),):
            if os.path.basename(file_name) != file_name or file_name.startswith(".") or not file_name:
                raise NanoBraggError("%s: %s name %r of id %r must be a plain file name" % (name, kind, file_name, ident))
            if file_name in names:
                raise NanoBraggError("%s: id %r writes %s, as id %r does" % (where, ident, file_name, names[file_name]))
            names[file_name] = ident
        job, p = _job(ident, index, base + args, generated, outputs, seed + index, where, sweep)
        jobs.append(job)
        if frames is not None:
            frames.add(job, p, where)
    if sweep is not None:
        owner = names.get(sweep) or next((j.id for j in jobs if j.id + ".error" == sweep), None)
        if owner is not None:
            raise NanoBraggError("%s: [outputs] sweep = %r: id %r writes a file of that name" % (name, sweep, owner))
    return jobs


def _check_sweep_name(templates, sweep, name):
    where = "%s: [outputs] sweep" % name
    if not isinstance(sweep, str):
        raise NanoBraggError("%s must be a string, not %r" % (where, sweep))
    if "{" in sweep or "}" in sweep:
        raise NanoBraggError("%s = %r: one file for the whole manifest, without {id} or {index}" % (where, sweep))
    if not sweep or os.path.basename(sweep) != sweep or sweep.startswith("."):
        raise NanoBraggError("%s = %r must be a plain file name" % (where, sweep))
    if "noisefile" not in templates and "intfile" not in templates:
        raise NanoBraggError("%s: the sweep is assembled from the noise or int images: [outputs] must also "
                             "name noisefile (or intfile)" % where)


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
        if self.first is None:
            self.first = (job.id, settings, float(p.phi0), osc)
        first_id, first_settings, phi0, first_osc = self.first
        for (n, value), (_, expected) in zip(settings, first_settings):
            if value != expected:
                raise NanoBraggError("%s: image %r has %s = %s, image %r %s: the images of a sweep share the "
                                     "detector, beam and spindle" % (what, job.id, n, value, first_id, expected))
        if osc != first_osc:
            raise NanoBraggError("%s: image %r has -osc %g, image %r %g: a sweep has one oscillation"
                                 % (what, job.id, osc * RTD, first_id, first_osc * RTD))
        expected = phi0 + self.count * osc
        if abs(float(p.phi0) - expected) > 1e-6 * osc:
            raise NanoBraggError("%s: image %r starts at phi %g, not %g: in a sweep each image starts where the "
                                 "one before it ends" % (what, job.id, float(p.phi0) * RTD, expected * RTD))
        self.count += 1


def _job(ident, index, user, generated, outputs, default_seed, where, sweep=None):
    """The job and its Params. The job's argv: the manifest's flags, then what the batch adds (generator
    flags, output names, the seed, -skip for the files nanoBragg.c would write that [outputs] leaves out);
    checked as `nbnumba simulate` would check it."""
    # flags appended after -misset_seed N would be read as -misset angles (C 561): keep it off the end
    for tok in user[-2:]:
        if tok.startswith("-") and "-misset_seed" in tok:
            raise NanoBraggError("%s: %s must not end the flags: nanoBragg would read the flags the batch adds "
                                 "after it as -misset angles; move it earlier" % (where, tok))
    seed_flags = _flags(("-seed",))
    sets_seed = any(_fires(t, seed_flags) for t in user)
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
    argv = tuple(user + tail)
    p = check_argv(argv, where)
    return Job(ident, index, argv, outputs, -p.seed, sweep), p


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
    return p
