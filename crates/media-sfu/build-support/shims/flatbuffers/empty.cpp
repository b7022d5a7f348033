// Intentionally empty: the worker uses the header-only flatbuffers runtime (see meson.build).
