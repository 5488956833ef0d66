"""OpenAI tool calling against `assistant serve`: the official `openai` client defines a
weather tool and gets `tool_calls` back from the default-tier model (streamed and not), then the
answer from the tool's result; bad `tools` get a 400; a model whose call is malformed is retried
once and then answered in words (a scripted model: a real one cannot be made to fail on cue)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest
from serving import running_server
from starlette.testclient import TestClient

from assistant.config import Config
from assistant.providers.loading import Engines
from assistant.server.app import create_app
from assistant.tools.hermes import MalformedCall, parse_calls

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}  # fmt: skip
ASK = [{"role": "user", "content": "What's the weather like in Paris?"}]


def test_the_openai_client_gets_tool_calls_from_the_default_model(tmp_path, default_tier):
    with running_server(tmp_path, "models.tier=default", "llm.temperature=0") as server, \
            openai.OpenAI(base_url=server.api, api_key="unused", max_retries=0,
                          timeout=300) as client:  # fmt: skip
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=ASK,
                                               tools=[WEATHER], max_tokens=64)  # fmt: skip
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls", choice
        (call,) = choice.message.tool_calls
        assert call.type == "function" and call.function.name == "get_weather"
        assert json.loads(call.function.arguments) == {"city": "Paris"}
        assert reply.usage.prompt_tokens > 50 and reply.usage.completion_tokens > 5  # llama.cpp's
        assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens

        chunks = list(
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=ASK,
                tools=[WEATHER],
                max_tokens=64,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        *chunks, last = chunks  # with include_usage: a last chunk with no choices, the usage
        assert last.choices == [] and last.usage.completion_tokens > 5, last
        streamed = [c.choices[0].delta.tool_calls for c in chunks if c.choices[0].delta.tool_calls]
        assert streamed[0][0].function.name == "get_weather"
        assert json.loads(streamed[0][0].function.arguments)["city"] == "Paris"
        assert chunks[-1].choices[0].finish_reason == "tool_calls"

        answered = client.chat.completions.create(model="gpt-4o-mini", tools=[WEATHER],
            max_tokens=48, messages=[*ASK, choice.message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id,
             "content": '{"city": "Paris", "temperature_c": 18, "sky": "sunny"}'}])  # fmt: skip
        assert answered.choices[0].finish_reason in ("stop", "length")
        words = answered.choices[0].message.content.lower()
        assert "18" in words or "sunny" in words, words


class ScriptedChat:
    """A chat model that writes the given replies in turn (the model's failures on cue)."""

    def __init__(self, *replies: str) -> None:
        self.replies, self.prompts = list(replies), []

    def stream_chat(self, messages, **options) -> Iterator[str]:
        self.prompts.append(messages)
        reply = self.replies.pop(0)
        yield from (reply[i : i + 4] for i in range(0, len(reply), 4))


def scripted(*replies: str) -> tuple[TestClient, ScriptedChat]:
    chat = ScriptedChat(*replies)
    return TestClient(create_app(Config(), Engines(chat=chat))), chat


def ask(client: TestClient, **more) -> dict:
    response = client.post("/v1/chat/completions", json={
        "model": "gpt-4o-mini", "messages": ASK, "tools": [WEATHER], **more})  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def test_a_malformed_call_is_retried_once_then_answered_in_words():
    client, chat = scripted('{"name": "get_weather", "arguments": {"city": "Par',
                            '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}'
                            "\n</tool_call>")  # fmt: skip
    with client:
        body = ask(client)
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) \
        == {"city": "Paris"}  # fmt: skip
    assert "not valid" in chat.prompts[1][-1].content  # the retry said why
    client, chat = scripted('{"name": "fly", "arguments": {}}', '{"name": "fly"}',
                            "I cannot check the weather.")  # fmt: skip
    with client:
        body = ask(client)
    message = body["choices"][0]["message"]
    assert body["choices"][0]["finish_reason"] == "stop"
    assert message["content"] == "I cannot check the weather." and "tool_calls" not in message
    assert "# Tools" not in chat.prompts[2][0].content  # asked again without the tools


def test_words_stream_as_they_come_when_tools_are_offered():
    client, _ = scripted("It is sunny in Paris today.")
    with (
        client,
        client.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": "gpt-4o-mini", "messages": ASK, "tools": [WEATHER], "stream": True},
        ) as r,
    ):
        events = [json.loads(line[6:]) for line in r.iter_lines()
                  if line.startswith("data: {")]  # fmt: skip
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == "It is sunny in Paris today."
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize(("more", "param"), [
    ({"tools": "weather"}, "tools"),
    ({"tools": [{"type": "function"}]}, "tools[0]"),
    ({"tools": [{"type": "function", "function": {"name": ""}}]}, "tools[0].function.name"),
    ({"tool_choice": "always"}, "tool_choice"),
    ({"tool_choice": {"type": "function", "function": {"name": "fly"}}}, "tool_choice"),
    ({"messages": [{"role": "tool", "content": 3}]}, "messages.[0].content"),
])  # fmt: skip
def test_bad_tools_get_400(more, param):
    client, _ = scripted()
    with client:
        response = client.post("/v1/chat/completions", json={
            "model": "gpt-4o-mini", "messages": ASK, "tools": [WEATHER], **more})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_calls_in_text_are_parsed_in_every_form_models_write_them():
    names = ["get_weather"]
    forms = ['<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>',
             '{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}',
             '```json\n{"name": "get_weather", "parameters": {"city": "Rome"}}\n```',
             '{"name": "get_weather", "arguments": {"city": "Rome"}']  # fmt: skip
    for text in forms:
        assert parse_calls(text, names)[0].arguments == {"city": "Rome"}, text
    for text, why in [('{"name": "get_weather", "arguments": [1]}', "not a JSON object"),
                      ("<tool_call>{nope}</tool_call>", "not valid JSON"),
                      ('{"name": "launch"}', "no function 'launch'")]:  # fmt: skip
        with pytest.raises(MalformedCall, match=why):
            parse_calls(text, names)
