"""Offline speech synthesis with libespeak-ng (shipped by the ``espeakng-loader`` wheel) through ctypes.

ctypes signatures relied upon (``speak_lib.h`` / ``espeak_ng.h``, espeak-ng 1.52):

    int  espeak_Initialize(espeak_AUDIO_OUTPUT output, int buflength, const char *path, int options)
         returns the sample rate in Hz (22050) or -1; output 2 = AUDIO_OUTPUT_SYNCHRONOUS,
         options 0x8000 = espeakINITIALIZE_DONT_EXIT (never call exit() from the library)
    void espeak_SetSynthCallback(int (*cb)(short *wav, int numsamples, espeak_EVENT *events))
         cb returns 0 to continue; wav is NULL (or numsamples 0) when a chunk carries no audio
    int  espeak_SetVoiceByName(const char *name)        "voice" or "voice+variant"; 0 = EE_OK, 2 = not found
    int  espeak_SetParameter(espeak_PARAMETER p, int value, int relative)   1 = espeakRATE, 3 = espeakPITCH
    int  espeak_Synth(const void *text, size_t size, unsigned position, espeak_POSITION_TYPE type,
                      unsigned end_position, unsigned flags, unsigned *unique_id, void *user_data)
         type 1 = POS_CHARACTER, flags 1 = espeakCHARS_UTF8
    int  espeak_Synchronize(void)
    int  espeak_Terminate(void)
    const char *espeak_Info(const char **path_data)      the version string, e.g. "1.52.0"
    int  espeak_ng_SetRandSeed(long seed)

espeak-ng keeps synthesis state in C statics that neither ``espeak_Terminate`` nor ``espeak_Initialize``
reset (the pitch-flutter phase, the automatic gain control, the breath resonators), so two identical
calls in one process differ by a few LSB. To make every utterance a pure function of its arguments the
library is loaded fresh (dlopen), used for one utterance and unloaded (dlclose); that costs ~6 ms.
One process-wide lock serialises it: espeak-ng is not re-entrant.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from pathlib import Path

import numpy as np

from harness.core.errors import ConfigError, DataError

SAMPLE_RATE = 16_000
NATIVE_RATE = 22_050
DEFAULT_RATE_WPM = 175
DEFAULT_PITCH = 50

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EE_NOT_FOUND = 2
_RAND_SEED = 1

_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_LOCK = threading.Lock()
_chunks: list[bytes] = []


def _collect(wav: ctypes._Pointer, numsamples: int, _events: int) -> int:
    if wav and numsamples > 0:
        _chunks.append(ctypes.string_at(wav, numsamples * 2))
    return 0


_CALLBACK_REF = _CALLBACK(_collect)  # kept alive for the life of the process


@functools.cache
def _paths() -> tuple[str, str]:
    try:
        import espeakng_loader
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DataError("espeakng-loader is not installed", hint="pip install espeakng-loader") from exc
    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class _Library:
    """One dlopen of libespeak-ng, initialised for synchronous output; unloaded on exit."""

    def __enter__(self) -> ctypes.CDLL:
        lib_path, data_path = _paths()
        lib = ctypes.CDLL(lib_path)
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int
        lib.espeak_Info.argtypes = [ctypes.c_void_p]
        lib.espeak_Info.restype = ctypes.c_char_p
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_ng_SetRandSeed.restype = ctypes.c_int
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
        if rate != NATIVE_RATE:
            self._unload(lib)
            raise DataError(f"libespeak-ng failed to initialise (returned {rate}) with data at {data_path}")
        lib.espeak_SetSynthCallback(_CALLBACK_REF)
        self._lib = lib
        return lib

    def __exit__(self, *exc: object) -> None:
        self._lib.espeak_Terminate()
        self._unload(self._lib)

    @staticmethod
    def _unload(lib: ctypes.CDLL) -> None:
        import _ctypes

        _ctypes.dlclose(lib._handle)


@functools.cache
def espeak_version() -> str:
    """The libespeak-ng version string, e.g. ``1.52.0``."""
    with _LOCK, _Library() as lib:
        return lib.espeak_Info(None).decode()


@functools.cache
def variants() -> tuple[str, ...]:
    """Voice variants shipped with the data (``m1``..``m7``, ``f1``..``f5``, and named ones)."""
    return tuple(sorted(p.name for p in (Path(_paths()[1]) / "voices" / "!v").iterdir()))


def synthesize_native(text: str, voice: str, *, variant: str | None = None, rate: int = DEFAULT_RATE_WPM,
                      pitch: int = DEFAULT_PITCH) -> np.ndarray:
    """Speak ``text`` with ``voice`` (+``variant``) at ``rate`` wpm and ``pitch`` 0-99: int16 at 22,050 Hz."""
    if variant is not None and variant not in variants():
        raise DataError(f"unknown espeak-ng voice variant '{variant}'", hint="valid: m1..m7, f1..f4, ...")
    if not 80 <= rate <= 450:
        raise ConfigError(f"speaking rate {rate} wpm is outside espeak-ng's range", hint="valid: 80..450")
    if not 0 <= pitch <= 99:
        raise ConfigError(f"pitch {pitch} is outside espeak-ng's range", hint="valid: 0..99")
    name = f"{voice}+{variant}" if variant else voice
    data = text.encode("utf-8") + b"\0"
    with _LOCK, _Library() as lib:
        status = lib.espeak_SetVoiceByName(name.encode())
        if status == _EE_NOT_FOUND:
            raise DataError(f"unknown espeak-ng voice '{voice}'",
                            hint="valid: a language voice such as en-us, en-gb-x-rp, fr, cmn-latn-pinyin")
        if status != 0:
            raise DataError(f"espeak-ng could not select voice '{name}' (status {status})")
        lib.espeak_SetParameter(_PARAM_RATE, rate, 0)
        lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
        lib.espeak_ng_SetRandSeed(_RAND_SEED)
        _chunks.clear()
        try:
            status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if status != 0:
                raise DataError(f"espeak-ng failed to synthesise {text!r} with '{name}' (status {status})")
            lib.espeak_Synchronize()
            raw = b"".join(_chunks)
        finally:
            _chunks.clear()
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


def to_16k(native: np.ndarray) -> np.ndarray:
    """Resample 22,050 Hz int16 to 16 kHz int16: polyphase 320/441, rounded, no dither."""
    if native.size == 0:
        return np.zeros(0, dtype=np.int16)
    from scipy.signal import resample_poly  # imported when rendering, not whenever a cached corpus is opened

    resampled = resample_poly(native.astype(np.float64), 320, 441)
    return np.clip(np.round(resampled), -32768, 32767).astype(np.int16)


def synthesize(text: str, voice: str, *, variant: str | None = None, rate: int = DEFAULT_RATE_WPM,
               pitch: int = DEFAULT_PITCH) -> np.ndarray:
    """Speak ``text``: int16 mono at 16 kHz, a pure function of its arguments."""
    return to_16k(synthesize_native(text, voice, variant=variant, rate=rate, pitch=pitch))
