#!/usr/bin/env python3
"""Expected renders of real chat templates by Python's Jinja2, the reference engine, set up as
Hugging Face transformers' apply_chat_template sets it up (ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks, loop controls and the {% generation %} tag; raise_exception,
strftime_now and HF's tojson). JinjaTemplateTests renders the same cases with Quanta's interpreter
and compares byte for byte.

    python3 scripts/chat_template_cases.py            # rewrite Tests/ChatTemplates/expected.json
    python3 scripts/chat_template_cases.py --check    # regenerate and diff (CI); exit 1 on a difference
    python3 scripts/chat_template_cases.py --survey DIR   # which templates in DIR render (no writing)

The templates (Tests/ChatTemplates/templates/*.jinja) are copies of llama.cpp's
models/templates (MIT, from the llama-cpp-python 0.3.36 sdist on PyPI; Tests/ChatTemplates/README.md).
Written with Jinja2 3.1.6.
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ChatTemplates")
# What strftime_now formats (Quanta's test passes the same instant, in UTC).
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)
BOS, EOS = "<|bos|>", "<|eos|>"

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}]

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}
# (name, messages, tools, add_generation_prompt values)
CONVERSATIONS = [
    ("user", [{"role": "user", "content": "Hello!"}], None, [True, False]),
    ("system_user", [SYSTEM, {"role": "user", "content": "What is 2+2?"}], None, [True, False]),
    ("multi_turn", [
        SYSTEM,
        {"role": "user", "content": "  Café ☕ — naïve question?\n"},
        {"role": "assistant", "content": "It's \"fine\".\n\nReally."},
        {"role": "user", "content": "Thanks! And 3*3?"},
    ], None, [True, False]),
    ("ends_with_assistant", [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello, how can I help?"},
    ], None, [False]),
    ("content_parts", [
        {"role": "user", "content": [{"type": "text", "text": "Describe "}, {"type": "text", "text": "this."}]},
    ], None, [True]),
    ("tools", [SYSTEM, {"role": "user", "content": "Weather in Paris?"}], TOOLS, [True]),
    ("tool_call", [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [{
            "id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
        }]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather", "content": "{\"temp\": 21}"},
    ], TOOLS, [True]),
]


class GenerationTag(Extension):
    """Hugging Face's AssistantTracker {% generation %} tag, rendering its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.Scope(body, lineno=lineno)


def environment():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[GenerationTag, loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return env


def render(env, source, context):
    try:
        return {"output": env.from_string(source).render(**context)}
    except jinja2.exceptions.TemplateError as e:
        # raise_exception's TemplateError carries the template's own message; other errors are
        # Jinja2's (undefined values, type errors) and only their presence is compared.
        kind = "raised" if type(e) is jinja2.exceptions.TemplateError else "error"
        return {"error": kind, "message": str(e) if kind == "raised" else type(e).__name__}
    except Exception as e:  # Python errors inside the template (TypeError, …)
        return {"error": "error", "message": type(e).__name__}


def cases_for(env, name, source):
    out = []
    for conv, messages, tools, prompts in CONVERSATIONS:
        if tools is not None and "tools" not in source:
            continue
        for agp in prompts:
            context = {"messages": messages, "tools": tools, "add_generation_prompt": agp,
                       "bos_token": BOS, "eos_token": EOS}
            out.append({"template": name, "conversation": conv, "add_generation_prompt": agp,
                        **render(env, source, context)})
    return out


def build(folder=os.path.join(ROOT, "templates")):
    env = environment()
    cases = []
    for f in sorted(os.listdir(folder)):
        if f.endswith(".jinja"):
            with open(os.path.join(folder, f), encoding="utf-8") as fh:
                cases += cases_for(env, f[:-len(".jinja")], fh.read())
    conversations = {name: {"messages": messages, "tools": tools} for name, messages, tools, _ in CONVERSATIONS}
    return json.dumps({"now": NOW.isoformat(), "bos_token": BOS, "eos_token": EOS,
                       "conversations": conversations, "cases": cases}, ensure_ascii=False, indent=1) + "\n"


def main():
    path = os.path.join(ROOT, "expected.json")
    if len(sys.argv) > 2 and sys.argv[1] == "--survey":
        env = environment()
        for f in sorted(os.listdir(sys.argv[2])):
            if f.endswith(".jinja"):
                src = open(os.path.join(sys.argv[2], f), encoding="utf-8").read()
                cs = cases_for(env, f, src)
                bad = [c["conversation"] + ":" + c["message"] for c in cs if c.get("error") == "error"]
                print(f, len(cs), "jinja2 errors:", bad)
        return
    text = build()
    if "--check" in sys.argv:
        with open(path, encoding="utf-8") as fh:
            if fh.read() != text:
                print("chat_template_cases: Tests/ChatTemplates/expected.json differs from Jinja2's renders "
                      "(run python3 scripts/chat_template_cases.py)", file=sys.stderr)
                sys.exit(1)
        print(f"chat_template_cases: expected.json matches Jinja2 {jinja2.__version__}")
        return
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
