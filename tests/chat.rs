//! Chat template tests: SmolLM2's own template against llama.cpp's prompts,
//! the built-in templates, fallbacks and template errors.

mod common;

use rewind::chat::{ChatError, ChatTemplate, Message};
use rewind::gguf::{GgufFile, Metadata, Value};
use rewind::tokenizer::Tokenizer;

/// Reads the JSON string literal starting at `s[0] == '"'`; returns it and
/// the rest after the closing quote.
fn json_string(s: &str) -> (String, &str) {
    assert!(s.starts_with('"'));
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 2..]),
            '\\' => {
                let (_, e) = chars.next().expect("escape");
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'u' => {
                        let hex: String = (0..4).map(|_| chars.next().unwrap().1).collect();
                        let cp = u32::from_str_radix(&hex, 16).unwrap();
                        out.push(char::from_u32(cp).expect("BMP char"));
                    }
                    other => panic!("escape \\{other}"),
                }
            }
            c => out.push(c),
        }
    }
    panic!("unterminated string");
}

/// The value of string field `key` at or after the start of `s`, and the
/// rest of `s` after it.
fn field<'a>(s: &'a str, key: &str) -> (String, &'a str) {
    let tag = format!("\"{key}\": ");
    let at = s.find(&tag).unwrap_or_else(|| panic!("no {key:?}")) + tag.len();
    json_string(&s[at..])
}

fn ids_field<'a>(s: &'a str, key: &str) -> (Vec<u32>, &'a str) {
    let tag = format!("\"{key}\":");
    let at = s.find(&tag).unwrap_or_else(|| panic!("no {key:?}")) + tag.len();
    let open = at + s[at..].find('[').unwrap();
    let close = open + s[open..].find(']').unwrap();
    let ids = s[open + 1..close]
        .split(',')
        .map(|t| t.trim().parse().unwrap())
        .collect();
    (ids, &s[close..])
}

struct ReferencePrompt {
    user: String,
    prompt: String,
    prompt_ids: Vec<u32>,
}

/// `runs.Q4_1[i]`'s user message, rendered prompt and prompt token ids.
fn reference_prompts() -> Vec<ReferencePrompt> {
    let text = String::from_utf8(common::read_data("smollm2_greedy.json")).unwrap();
    let start = text.find("\"Q4_1\"").expect("runs.Q4_1");
    let end = text[start..]
        .find("\"Q8_0\"")
        .map_or(text.len(), |e| start + e);
    let mut rest = &text[start..end];
    let mut out = Vec::new();
    while rest.contains("\"user\": ") {
        let (user, r) = field(rest, "user");
        let (prompt, r) = field(r, "prompt");
        let (prompt_ids, r) = ids_field(r, "prompt_ids");
        rest = r;
        out.push(ReferencePrompt {
            user,
            prompt,
            prompt_ids,
        });
    }
    out
}

fn smollm2() -> (GgufFile, Tokenizer) {
    let path = common::smollm2_path();
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tok = Tokenizer::from_gguf(file.metadata()).expect("SmolLM2 tokenizer");
    (file, tok)
}

fn smollm2_template(file: &GgufFile, tok: &Tokenizer) -> ChatTemplate {
    let bos = tok.bos().and_then(|id| tok.token_text(id)).unwrap();
    let eos = tok.eos().and_then(|id| tok.token_text(id)).unwrap();
    ChatTemplate::from_gguf(file.metadata(), &bos, &eos)
}

#[test]
fn smollm2_template_renders_llama_cpp_prompts() {
    let (file, tok) = smollm2();
    let template = smollm2_template(&file, &tok);
    assert_eq!(template.name(), "gguf");
    assert_eq!(template.bos_token(), "<|im_start|>");
    assert_eq!(template.eos_token(), "<|im_end|>");
    let cases = reference_prompts();
    assert_eq!(cases.len(), 8);
    for case in &cases {
        // The template inserts SmolLM2's default system prompt itself.
        let prompt = template.render(&[Message::user(&case.user)], true).unwrap();
        assert_eq!(prompt, case.prompt);
        assert_eq!(
            tok.encode(&prompt, true).unwrap(),
            case.prompt_ids,
            "{:?}",
            case.user
        );
    }
}

#[test]
fn smollm2_template_with_system_and_history() {
    let (file, tok) = smollm2();
    let template = smollm2_template(&file, &tok);
    let msgs = [
        Message::system("Be brief."),
        Message::user("Hi"),
        Message::assistant("Hello!"),
        Message::user("Bye"),
    ];
    assert_eq!(
        template.render(&msgs, false).unwrap(),
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
         <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
    );
    // The SmolLM2 template is ChatML: the built-in one agrees when a system
    // message is given.
    let chatml = ChatTemplate::named("chatml").unwrap();
    for gen_prompt in [false, true] {
        assert_eq!(
            chatml.render(&msgs, gen_prompt).unwrap(),
            template.render(&msgs, gen_prompt).unwrap()
        );
    }
}

#[test]
fn named_chatml() {
    let t = ChatTemplate::named("chatml").unwrap();
    assert_eq!(t.name(), "chatml");
    let msgs = [Message::user("Hi"), Message::assistant("Hello")];
    assert_eq!(
        t.render(&msgs, false).unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
    );
    assert_eq!(
        t.render(&msgs[..1], true).unwrap(),
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(t.render(&[], false).unwrap(), "");
}

#[test]
fn named_llama2() {
    let t = ChatTemplate::named("llama2").unwrap();
    assert_eq!(t.name(), "llama2");
    let msgs = [
        Message::system("You are kind."),
        Message::user(" Hi "),
        Message::assistant("Hello"),
        Message::user("Bye"),
    ];
    assert_eq!(
        t.render(&msgs, true).unwrap(),
        "<s>[INST] <<SYS>>\nYou are kind.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]"
    );
    assert_eq!(
        t.render(&[Message::user("Hi")], true).unwrap(),
        "<s>[INST] Hi [/INST]"
    );
    // An unsupported role is reported through raise_exception.
    match t.render(&[Message::new("tool", "x")], true) {
        Err(ChatError::Raised(msg)) => assert!(msg.contains("tool"), "{msg}"),
        other => panic!("expected Raised, got {other:?}"),
    }
}

#[test]
fn named_llama3() {
    let t = ChatTemplate::named("llama3").unwrap();
    assert_eq!(t.name(), "llama3");
    let msgs = [Message::system("Sys"), Message::user("Hi\n")];
    assert_eq!(
        t.render(&msgs, true).unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    assert_eq!(
        t.render(&msgs, false).unwrap(),
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSys<|eot_id|>\
         <|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
    );
}

#[test]
fn unknown_name_is_an_error() {
    match ChatTemplate::named("vicuna") {
        Err(ChatError::UnknownTemplate(name)) => assert_eq!(name, "vicuna"),
        other => panic!("expected UnknownTemplate, got {other:?}"),
    }
}

#[test]
fn broken_template_does_not_compile() {
    let err =
        ChatTemplate::from_source("{% for message in messages %}{{ message", "", "").unwrap_err();
    assert!(matches!(err, ChatError::Compile(_)), "{err}");
    let err = ChatTemplate::from_source("{% if %}", "", "").unwrap_err();
    assert!(matches!(err, ChatError::Compile(_)), "{err}");
}

#[test]
fn raise_exception_gives_its_message() {
    let src = "{% if messages[0]['role'] != 'user' %}\
               {{ raise_exception('Conversations must start with a user message') }}\
               {% endif %}ok";
    let t = ChatTemplate::from_source(src, "", "").unwrap();
    assert_eq!(t.render(&[Message::user("x")], false).unwrap(), "ok");
    let err = t.render(&[Message::assistant("x")], false).unwrap_err();
    match &err {
        ChatError::Raised(msg) => {
            assert_eq!(msg, "Conversations must start with a user message")
        }
        other => panic!("expected Raised, got {other:?}"),
    }
    assert!(err.to_string().contains("must start with a user message"));
    // Other failures are render errors.
    let t = ChatTemplate::from_source("{{ no_such_function() }}", "", "").unwrap();
    assert!(matches!(t.render(&[], false), Err(ChatError::Render(_))));
}

fn meta_with(tokens: &[&str], template: Option<&str>) -> Metadata {
    let mut m = Metadata::new();
    m.insert(
        "tokenizer.ggml.tokens",
        Value::Array(tokens.iter().map(|t| Value::String((*t).into())).collect()),
    );
    if let Some(src) = template {
        m.insert("tokenizer.chat_template", Value::String(src.into()));
    }
    m
}

#[test]
fn from_gguf_falls_back_to_a_guessed_template() {
    let chatml_vocab = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"];
    let llama3_vocab = [
        "<|begin_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
    ];
    let llama2_vocab = ["<unk>", "<s>", "</s>", "▁a"];
    let broken = Some("{% for m in messages %}");
    let fails_to_render = Some("{{ raise_exception('always') }}");
    for (vocab, name) in [
        (&chatml_vocab[..], "chatml"),
        (&llama3_vocab[..], "llama3"),
        (&llama2_vocab[..], "llama2"),
    ] {
        for src in [None, broken, fails_to_render] {
            let t = ChatTemplate::from_gguf(&meta_with(vocab, src), "<s>", "</s>");
            assert_eq!(t.name(), name, "template {src:?}");
            t.render(&[Message::user("hi")], true).unwrap();
        }
    }
    // The fallback uses the model's BOS/EOS texts.
    let t = ChatTemplate::from_gguf(&meta_with(&llama2_vocab, None), "<BOS>", "<EOS>");
    assert_eq!(
        t.render(&[Message::user("a"), Message::assistant("b")], false)
            .unwrap(),
        "<BOS>[INST] a [/INST] b <EOS>"
    );
    // A working template is kept.
    let t = ChatTemplate::from_gguf(
        &meta_with(
            &llama2_vocab,
            Some("{{ bos_token }}{{ messages | length }}"),
        ),
        "<s>",
        "</s>",
    );
    assert_eq!(t.name(), "gguf");
    assert_eq!(t.render(&[Message::user("a")], false).unwrap(), "<s>1");
}

#[test]
fn jinja_features_real_templates_use() {
    let src = "{%- set ns = namespace(n=0) -%}\n\
        {%- for m in messages %}\n\
        {%- set ns.n = ns.n + 1 %}\n\
        {{ loop.index }}/{{ loop.length }} {{ m.role | upper }}: {{ m.content.strip() }}\
        {% if m.content.startswith('  q') %} (question){% endif %}\
        {% if loop.last %} [last]{% endif %}\n\
        {% endfor -%}\n\
        n={{ ns.n }} words={{ messages[0].content.split() | length }} \
        json={{ messages[0] | tojson }} {{ {'a': [1, 2.5, none, true]} | tojson }}\n\
        {{ 'x' if add_generation_prompt else 'y' }}";
    let t = ChatTemplate::from_source(src, "", "").unwrap();
    let msgs = [
        Message::user("  question one  "),
        Message::assistant("answer \"quoted\"\n"),
    ];
    let out = t.render(&msgs, true).unwrap();
    // What Jinja2 renders with trim_blocks and lstrip_blocks (the newline
    // after a block tag is dropped).
    assert_eq!(
        out,
        "1/2 USER: question one (question)\
         2/2 ASSISTANT: answer \"quoted\" [last]\
         n=2 words=2 json={\"role\": \"user\", \"content\": \"  question one  \"} \
         {\"a\": [1, 2.5, null, true]}\n\
         x"
    );

    let t = ChatTemplate::from_source("{{ messages | tojson(indent=2) }}", "", "").unwrap();
    assert_eq!(
        t.render(&[Message::user("a")], false).unwrap(),
        "[\n  {\n    \"role\": \"user\",\n    \"content\": \"a\"\n  }\n]"
    );

    // strftime_now: today's date, in the formats Llama 3.x templates use.
    let t = ChatTemplate::from_source(
        "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d') }}",
        "",
        "",
    )
    .unwrap();
    let out = t.render(&[], false).unwrap();
    let (a, b) = out.split_once('|').unwrap();
    assert_eq!(a.len(), 11, "{a:?}");
    assert_eq!(b.len(), 10, "{b:?}");
    assert!(b.starts_with("20"), "{b:?}");
}

#[test]
fn message_helpers() {
    assert_eq!(
        Message::system("s"),
        Message {
            role: "system".into(),
            content: "s".into()
        }
    );
    assert_eq!(Message::user("u").role, "user");
    assert_eq!(Message::assistant("a").role, "assistant");
    assert_eq!(Message::new("tool", "t").content, "t");
}

/// Templates that would run for ever or write without end: each fails with
/// an error naming the bound it hit (or minijinja's own limit), and a model
/// carrying one falls back to a built-in template.
#[test]
fn hostile_templates_are_bounded() {
    use rewind::chat::RenderLimit;
    let cases: [(&str, &str); 7] = [
        (
            "deep loop",
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        ),
        (
            "nested loops over messages",
            "{% for a in range(99999) %}{% for m in messages %}{% for b in range(99999) %}{{ '' }}{% endfor %}{% endfor %}{% endfor %}",
        ),
        (
            "string multiplication",
            "{% for i in range(1000) %}{{ 'x' * 100000000 }}{% endfor %}",
        ),
        (
            "huge output",
            "{% for i in range(99999) %}{{ messages }}{% endfor %}",
        ),
        (
            "unbounded recursion",
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        ),
        (
            "deep recursion writing",
            "{% macro f(n) %}{{ 'y' * 1000 }}{% for i in range(100) %}{{ f(n + 1) }}{% endfor %}{% endmacro %}{{ f(0) }}",
        ),
        (
            "huge range",
            "{% for i in range(10000000000) %}{% endfor %}",
        ),
    ];
    let messages = [Message::user("hi")];
    for (what, src) in cases {
        let t = ChatTemplate::from_source(src, "<s>", "</s>").unwrap();
        let start = std::time::Instant::now();
        let err = t.render(&messages, true).expect_err(what);
        eprintln!("{what}: {err} ({:?})", start.elapsed());
        match &err {
            ChatError::Limit(RenderLimit::Instructions)
            | ChatError::Limit(RenderLimit::Output { .. })
            | ChatError::Limit(RenderLimit::Time) => {}
            // minijinja's own bounds: recursion depth, range and repeat sizes.
            ChatError::Render(e) => {
                let msg = e.to_string();
                assert!(
                    msg.contains("recursion")
                        || msg.contains("too many")
                        || msg.contains("too large"),
                    "{what}: {msg}"
                );
            }
            other => panic!("{what}: {other}"),
        }
        let vocab = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"];
        let fallback = ChatTemplate::from_gguf(&meta_with(&vocab, Some(src)), "<s>", "</s>");
        assert_eq!(fallback.name(), "chatml", "{what}");
    }
}
