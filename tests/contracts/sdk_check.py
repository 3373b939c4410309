"""The official SDKs against our test doubles (issue 23): a double whose answers the SDK cannot
parse, or that behaves otherwise than the SDK expects, is wrong.

    python sdk_check.py anthropic URL KEY
    python sdk_check.py openai URL KEY
    python sdk_check.py notion URL TOKEN

Each runs a fixed sequence (the Rust test scripts the doubles' replies in the same order) and
prints `ok` or fails with the first mismatch.
"""

import sys

kind, url, key = sys.argv[1], sys.argv[2], sys.argv[3]


def check(cond, what):
    if not cond:
        raise SystemExit(f"{kind}: {what}")


def anthropic_sequence():
    import anthropic

    c = anthropic.Anthropic(api_key=key, base_url=url, max_retries=0)
    conventions = "Handlers live in api/internal/handler/<group>. " * 120
    system = [{"type": "text", "text": conventions, "cache_control": {"type": "ephemeral"}}]
    ask = lambda q: [{"role": "user", "content": q}]
    m = c.messages.create(model="claude-sonnet-4-5", max_tokens=200, system=system, messages=ask("first"))
    check(m.content[0].text == "Department has a name.", f"text: {m.content}")
    check(m.stop_reason == "end_turn", f"stop_reason {m.stop_reason}")
    check((m.usage.cache_creation_input_tokens or 0) > 1024, f"cache write: {m.usage}")
    m = c.messages.create(model="claude-sonnet-4-5", max_tokens=200, system=system, messages=ask("second"))
    check((m.usage.cache_read_input_tokens or 0) > 1024, f"cache read: {m.usage}")
    with c.messages.stream(model="claude-sonnet-4-5", max_tokens=200, messages=ask("stream")) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    check(text == "streamed answer text" == final.content[0].text, f"stream: {text!r}")
    check(final.stop_reason == "end_turn" and final.usage.output_tokens > 0, f"final: {final}")
    m = c.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=ask("long"))
    check(m.stop_reason == "max_tokens" and m.usage.output_tokens == 5, f"cut: {m.stop_reason} {m.usage}")
    try:
        c.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=ask("limited"))
        check(False, "429 not raised")
    except anthropic.RateLimitError as e:
        check(e.status_code == 429 and e.response.headers.get("retry-after") == "3", f"429: {e}")
        check(e.body["error"]["type"] == "rate_limit_error", f"429 body: {e.body}")
    try:
        with c.messages.stream(model="claude-sonnet-4-5", max_tokens=200, messages=ask("breaks")) as s:
            for _ in s.text_stream:
                pass
        check(False, "a mid-stream error was not raised")
    except anthropic.APIStatusError as e:
        check("overloaded_error" in str(e.body) or "overloaded_error" in str(e), f"stream error: {e!r}")
    except anthropic.APIError as e:
        check("overloaded_error" in str(e.body), f"stream error: {e!r}")
    m = c.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=ask("refuse"))
    check(m.stop_reason == "refusal", f"refusal: {m.stop_reason}")


def openai_sequence():
    import openai

    c = openai.OpenAI(api_key=key, base_url=url + "/v1", max_retries=0)
    msgs = [{"role": "system", "content": "You write Go."}, {"role": "user", "content": "hi"}]
    r = c.chat.completions.create(model="o3-mini", messages=msgs, max_completion_tokens=100)
    check(r.choices[0].message.content == "ok answer", f"text: {r}")
    check(r.choices[0].finish_reason == "stop", f"finish: {r.choices[0].finish_reason}")
    check(r.usage.prompt_tokens > 0 and r.usage.prompt_tokens_details.cached_tokens == 0, f"usage: {r.usage}")
    try:
        c.chat.completions.create(model="o3-mini", messages=msgs, max_tokens=100)
        check(False, "max_tokens accepted for a reasoning model")
    except openai.BadRequestError as e:
        check(e.code == "unsupported_parameter" and e.param == "max_tokens", f"400: {e}")
    chunks = list(
        c.chat.completions.create(
            model="gpt-4o", messages=msgs, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    check(text == "streamed words here", f"stream: {text!r}")
    check(chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0, f"usage chunk: {chunks[-1]}")
    r = c.chat.completions.create(model="gpt-4o", messages=msgs, max_completion_tokens=5)
    check(r.choices[0].finish_reason == "length", f"cut: {r.choices[0].finish_reason}")
    r = c.chat.completions.create(model="gpt-4o", messages=msgs, max_completion_tokens=100)
    check(r.choices[0].message.refusal == "I can't help with that.", f"refusal: {r.choices[0].message}")
    try:
        c.chat.completions.create(model="gpt-4o", messages=msgs)
        check(False, "429 not raised")
    except openai.RateLimitError as e:
        check(e.status_code == 429, f"429: {e}")


def notion_sequence():
    from notion_client import APIResponseError, Client

    n = Client(auth=key, base_url=url)
    db = n.databases.retrieve(database_id="tasks")
    ds = db["data_sources"][0]["id"]
    check(ds == "tasks-source", f"data sources: {db}")
    para = lambda t: {"object": "block", "type": "paragraph",
                      "paragraph": {"rich_text": [{"type": "text", "text": {"content": t}}]}}
    page = n.pages.create(
        parent={"type": "data_source_id", "data_source_id": ds},
        properties={"Name": {"title": [{"type": "text", "text": {"content": "T001"}}]}},
        children=[para("first")],
    )
    check(page["object"] == "page" and page["id"], f"page: {page}")
    rows = n.data_sources.query(data_source_id=ds, page_size=10)
    check(rows["object"] == "list" and rows["has_more"] is False, f"query: {rows}")
    n.blocks.children.append(block_id=page["id"], children=[para("second")])
    n.pages.update(page_id=page["id"], properties={"Status": {"select": {"name": "Done"}}})
    try:
        n.blocks.children.append(block_id=page["id"], children=[para(str(i)) for i in range(101)])
        check(False, "101 children accepted")
    except APIResponseError as e:
        check(e.code == "validation_error", f"limit: {e.code} {e}")
    # A rate limit with retry-after: the SDK waits and sends again (its own retry rules).
    n.pages.update(page_id=page["id"], properties={"Status": {"select": {"name": "Todo"}}})


{"anthropic": anthropic_sequence, "openai": openai_sequence, "notion": notion_sequence}[kind]()
print("ok")
