"""Audio: decoding, resampling and WAV (codec), the microphone and speaker (devices), and
voice activity detection (vad)."""
