#!/usr/bin/env python3
"""Writes json-schema/*.gbnf: each schema in json-schema/*.json converted by llama.cpp's Python
JSON-schema converter, the copy in the llama-cpp-python 0.3.36 sdist on PyPI
(llama_cpp/llama_grammar.py, "llama.cpp json-schema to grammar converter from
vendor/llama.cpp/examples/json-schema-to-grammar.py"), with the two fixes Quanta's converter takes
from llama.cpp's C++ converter (common/json-schema-to-grammar.cpp) patched in:
  - a string character excludes control characters: [^"\\] becomes [^"\\\x7F\x00-\x1F];
  - literals escape backslashes too (the Python copy escapes only \r \n and ").
Usage: python3 make_expected.py PATH/TO/llama_cpp/llama_grammar.py
(pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36, unpack, point at the file)."""
import importlib.util, pathlib, re, sys

spec = importlib.util.spec_from_file_location("llama_grammar", sys.argv[1])
g = importlib.util.module_from_spec(spec)
spec.loader.exec_module(g)
char = g.PRIMITIVE_RULES["char"]
assert char.content.startswith('[^"\\\\] |'), char.content
g.PRIMITIVE_RULES["char"] = g.BuiltinRule('[^"\\\\\\x7F\\x00-\\x1F]' + char.content[len('[^"\\\\]'):], [])
g.GRAMMAR_LITERAL_ESCAPE_RE = re.compile(r'[\r\n"\\]')
g.GRAMMAR_LITERAL_ESCAPES = {"\r": "\\r", "\n": "\\n", '"': '\\"', "\\": "\\\\"}
here = pathlib.Path(__file__).parent / "json-schema"
for path in sorted(here.glob("*.json")):
    out = g.json_schema_to_gbnf(path.read_text())
    path.with_suffix(".gbnf").write_text(out + "\n")
    print(path.with_suffix(".gbnf").name)
