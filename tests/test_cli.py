"""The `assistant` command, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import wave
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import encode_audio, word_error_rate, words

from assistant import __version__
from assistant.audio.codec import decode_file
from assistant.bench.coldstart import exit_status
from assistant.cli.main import cli

ASSISTANT = str(Path(sys.executable).parent / "assistant")
LIGHTS = "Please turn off the kitchen lights."


def run(*args: str, stdin: str | None = None, env: dict | None = None, cwd=None):
    import os

    environment = {**os.environ, **(env or {})}
    result = subprocess.run(
        [ASSISTANT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=300,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def encode(source: Path, target: Path, codec: str, rate: int, channels: int) -> Path:
    """Re-encode speech into another container, rate and channel count, like outside files."""
    return encode_audio(target, decode_file(source, rate).to_int16(), codec, rate, channels)


# --- help and version ------------------------------------------------------------------------


def test_version():
    assert run("--version").stdout.strip() == f"assistant, version {__version__}"


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["transcribe"],
        ["say"],
        ["reply"],
        ["chat"],
        ["voices"],
        ["models"],
        ["models", "list"],
        ["models", "pull"],
        ["config"],
        ["config", "show"],
    ],
)
def test_help_everywhere(command):
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.output and "--help" in result.output


def test_a_crash_in_native_code_shows_where_each_thread_was(tmp_path):
    """A SIGSEGV (an engine's native code crashing, as llama.cpp's AMX kernels did) prints the
    Python stack of every thread before the process dies, for the bug report: here sent to
    `assistant chat` while it waits for the next line, its model loaded and a reply given."""
    chat = subprocess.Popen(
        [ASSISTANT, "--set", "llm.max_tokens=8", "chat"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert chat.stdin is not None and chat.stdout is not None
    chat.stdin.write("Hello.\n")
    chat.stdin.flush()
    assert chat.stdout.readline().startswith("assistant> ")  # answered: waiting for a line
    chat.send_signal(signal.SIGSEGV)
    _, stderr = chat.communicate(timeout=60)
    assert chat.returncode == -signal.SIGSEGV
    assert "Fatal Python error: Segmentation fault" in stderr, stderr
    assert "most recent call first" in stderr and "chat.py" in stderr, stderr


def test_the_cold_start_probe_names_the_signal_that_killed_it():
    assert exit_status(1) == "exit 1"
    assert exit_status(-signal.SIGSEGV) == "killed by SIGSEGV"
    assert exit_status(-200) == "killed by signal 200"


def test_no_arguments_without_a_terminal_prints_help():
    result = run(stdin="")
    assert result.returncode == 0
    for command in ("transcribe", "say", "reply", "chat", "models", "config"):
        assert command in result.stdout


# --- transcribe ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "codec", "rate", "channels"),
    [
        ("wav", "pcm_s16le", 8000, 1),
        ("flac", "flac", 44100, 2),
        ("mp3", "libmp3lame", 44100, 2),
        ("ogg", "libopus", 48000, 1),
    ],
)
def test_transcribe_formats_and_rates(espeak, tmp_path, suffix, codec, rate, channels):
    path = encode(espeak(LIGHTS, "lights"), tmp_path / f"speech.{suffix}", codec, rate, channels)
    result = run("transcribe", str(path))
    assert result.returncode == 0, result.stderr
    assert word_error_rate(result.stdout, LIGHTS) <= 1 / 6


def test_transcribe_json_has_segments_and_language(espeak):
    result = run("transcribe", "--json", str(espeak(LIGHTS, "lights")))
    data = json.loads(result.stdout)
    assert word_error_rate(data["text"], LIGHTS) <= 1 / 6
    assert data["language"] == "en"
    assert data["duration"] > 1
    assert data["segments"][0]["start"] >= 0 and data["segments"][0]["text"]


# --- say -------------------------------------------------------------------------------------


def test_say_writes_speech(tmp_path, stt):
    out = tmp_path / "hello.wav"
    result = run("say", "Hello from the offline assistant.", "-o", str(out))
    assert result.returncode == 0, result.stderr
    with wave.open(str(out)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (22050, 1, 2)
    assert words(stt.transcribe(decode_file(out)).text) == [
        "hello",
        "from",
        "the",
        "offline",
        "assistant",
    ]


def test_say_reads_text_from_stdin_and_honours_speed(tmp_path):
    normal, fast = tmp_path / "normal.wav", tmp_path / "fast.wav"
    assert run("say", "-", "-o", str(normal), stdin="Reading from standard input.").returncode == 0
    assert (
        run(
            "say", "-", "-o", str(fast), "--speed", "2", stdin="Reading from standard input."
        ).returncode
        == 0
    )
    assert decode_file(fast).seconds < decode_file(normal).seconds * 0.8


# --- chat and reply --------------------------------------------------------------------------


def test_chat_streams_replies_resets_and_exits():
    script = "Hello!\n/reset\nWhat is two plus two?\n/exit\nThis line is never read.\n"
    result = run("--set", "llm.max_tokens=40", "chat", stdin=script)
    assert result.returncode == 0, result.stderr
    replies = [line for line in result.stdout.splitlines() if line.startswith("assistant> ")]
    assert len(replies) == 2 and all(len(r) > len("assistant> ") for r in replies)
    assert "(new conversation)" in result.stdout


def test_reply_answers_a_spoken_question_aloud(question_wav, tmp_path, stt):
    out = tmp_path / "answer.wav"
    # greedy decoding, so the answer (and how well tiny.en hears it back) repeats from run to run
    result = run("--set", "llm.temperature=0", "reply", str(question_wav), "-o", str(out))
    assert result.returncode == 0, result.stderr
    heard, answer = result.stdout.splitlines()[:2]
    assert (
        heard.startswith("you: ")
        and word_error_rate(heard[5:], "Who wrote Romeo and Juliet?") <= 0.2
    )
    assert answer.startswith("assistant: ") and len(answer) > len("assistant: ")
    spoken = decode_file(out)
    assert spoken.seconds > 0.5
    assert word_error_rate(stt.transcribe(spoken).text, answer[len("assistant: ") :]) < 0.5


# --- configuration ---------------------------------------------------------------------------


def test_config_show_layers_file_environment_and_flags(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[llm]\nmax_tokens = 11\ntemperature = 0.1\n[tts]\nspeed = 1.5\n")
    result = run(
        "--config",
        str(path),
        "--set",
        "llm.temperature=0.3",
        "config",
        "show",
        env={
            "ASSISTANT_LLM_MAX_TOKENS": "22",
            "ASSISTANT_TTS_SPEED": "1.25",
            "XDG_CONFIG_HOME": str(tmp_path / "none"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert "max_tokens = 22" in result.stdout  # env over file
    assert "temperature = 0.3" in result.stdout  # flag over file
    assert "speed = 1.25" in result.stdout  # env over file
    assert 'model = "whisper-tiny.en"' in result.stdout  # default


def test_config_file_in_the_xdg_directory_is_read(tmp_path):
    (tmp_path / "assistant").mkdir()
    (tmp_path / "assistant" / "config.toml").write_text("[stt]\nbeam_size = 5\n")
    result = run("config", "show", env={"XDG_CONFIG_HOME": str(tmp_path)})
    assert "beam_size = 5" in result.stdout


# --- bad input -------------------------------------------------------------------------------


def test_missing_model_names_the_pull_command(tmp_path, espeak):
    result = run(
        "transcribe", str(espeak(LIGHTS, "lights")), env={"ASSISTANT_MODELS_DIR": str(tmp_path)}
    )
    assert result.returncode == 2
    assert "model 'whisper-tiny.en' is not downloaded" in result.stderr
    assert "Run: assistant models pull whisper-tiny.en" in result.stderr


def test_bad_audio_files_get_clear_errors(tmp_path, espeak):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(espeak(LIGHTS, "lights").read_bytes()[:5000])
    text = tmp_path / "notes.mp3"
    text.write_text("these are not sounds\n" * 50)
    cases = {
        empty: "is empty",
        truncated: "is truncated",
        text: "is not a readable audio file",
        tmp_path / "absent.wav": "No such file",
    }
    for path, message in cases.items():
        result = run("transcribe", str(path))
        assert result.returncode == 1, path
        assert message in result.stderr, result.stderr


def test_silence_gets_no_reply_and_no_output_file(tmp_path):
    quiet = tmp_path / "quiet.wav"
    with wave.open(str(quiet), "wb") as wav:
        wav.setnchannels(1), wav.setsampwidth(2), wav.setframerate(16000)
        wav.writeframes(bytes(16000 * 2 * 2))
    result = run("reply", str(quiet), "-o", str(tmp_path / "out.wav"))
    assert result.returncode == 1
    assert "you: (no speech)" in result.stdout and "no speech was heard" in result.stderr
    assert "assistant:" not in result.stdout
    assert not (tmp_path / "out.wav").exists()


@pytest.mark.parametrize("text", ["", "   "])
def test_say_refuses_empty_text(tmp_path, text):
    result = run("say", text, "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 2 and "no text to speak" in result.stderr
    assert run("say", "-", "-o", str(tmp_path / "x.wav"), stdin="\n").returncode == 2


def test_unknown_voice_lists_the_available_ones(tmp_path):
    result = run("say", "Hello.", "--voice", "nobody", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 2
    assert "unknown voice 'nobody'. Available: en_US-joe-medium" in result.stderr


def test_unknown_model_lists_the_available_ones(espeak):
    result = run("--set", "stt.model=whisper-huge", "transcribe", str(espeak(LIGHTS, "lights")))
    assert result.returncode == 2
    assert (
        "unknown speech-to-text model 'whisper-huge'. Available: whisper-base, whisper-tiny.en"
        in result.stderr
    )
    result = run("models", "pull", "whisper-huge")
    assert result.returncode == 2 and "smollm2-135m-instruct" in result.stderr


def test_bad_settings_are_reported(tmp_path):
    assert "unknown setting 'llm.foo'" in run("--set", "llm.foo=1", "config", "show").stderr
    result = run("--set", "llm.max_tokens=many", "config", "show")
    assert result.returncode == 2 and "must be int" in result.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text("[llm\n")
    result = run("--config", str(broken), "config", "show")
    assert result.returncode == 2 and "not valid TOML" in result.stderr


def test_unwritable_output_is_reported(espeak, tmp_path):
    result = run("say", "Hello.", "-o", str(tmp_path / "missing-dir" / "x.wav"))
    assert result.returncode == 1 and "cannot write" in result.stderr


def test_models_list_shows_what_is_downloaded():
    result = run("models", "list")
    assert result.returncode == 0
    lines = {line.lstrip("* ").split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert "tier: tiny" in result.stdout.splitlines()[0]  # the tests' tier
    assert "downloaded" in lines["whisper-tiny.en"] and lines["whisper-tiny.en"].startswith("*")
    assert "MIT" in lines["whisper-tiny.en"] and "tok/s" in lines["smollm2-135m-instruct"]
    assert "default" in lines["qwen2.5-coder-0.5b-instruct"]
    assert "hub only" in lines["llama-3.2-3b-instruct"]
    assert " 0.3 MB " in lines["recordings-zh"] and " 4 MB " in lines["recordings-en"]
