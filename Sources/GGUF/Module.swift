// GGUF: reading (memory-mapped, validated) and writing GGUF v1–v3, and reading legacy GGML/GGMF/GGJT.
@_exported import GGML
