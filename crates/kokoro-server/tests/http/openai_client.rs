//! The official `openai` Python client against the server: models, OpenAI's
//! voice names, `instructions`, AAC, and speech streamed as server-sent events.
//!
//! The client is installed (pinned) into a virtual environment under the
//! target directory on first use ([`crate::python_with`]).

use std::process::Command;

use kokoro_server::ServerOptions;

use crate::Server;

const CLIENT: &str = "openai==3.57.0";

const SCRIPT: &str = r#"
import base64, json, sys
from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="not-needed")
out = {"models": [m.id for m in client.models.list()]}
out["retrieved"] = client.models.retrieve("tts-1").id
with client.audio.speech.with_streaming_response.create(
    model="tts-1", voice="nova", input="Hello from the official client.",
    response_format="wav", instructions="Speak cheerfully.",
) as r:
    wav = r.read()
out["wav_riff"] = wav[:4] == b"RIFF"
out["wav_bytes"] = len(wav)
with client.audio.speech.with_streaming_response.create(
    model="tts-1", voice="nova", input="Hello in AAC.", response_format="aac",
) as r:
    aac = r.read()
    out["aac_type"] = r.headers.get("content-type")
# ADTS: every frame starts with the 12-bit sync word.
out["aac_sync"] = len(aac) > 100 and aac[0] == 0xFF and (aac[1] & 0xF0) == 0xF0
with client.audio.speech.with_streaming_response.create(
    model="gpt-4o-mini-tts", voice="alloy", input="Streamed as events. Two sentences.",
    response_format="mp3", stream_format="sse",
) as r:
    out["content_type"] = r.headers.get("content-type")
    events = [json.loads(line[len("data: "):]) for line in r.iter_lines() if line.startswith("data: ")]
out["types"] = sorted(set(e["type"] for e in events))
out["last"] = events[-1]["type"]
out["deltas"] = sum(1 for e in events if e["type"] == "speech.audio.delta")
out["mp3_bytes"] = sum(len(base64.b64decode(e["audio"])) for e in events if e["type"] == "speech.audio.delta")
out["usage"] = events[-1].get("usage")
print(json.dumps(out))
"#;

#[test]
fn the_official_openai_client_speaks_lists_models_and_streams_events() {
    let python = crate::python_with(CLIENT);
    let server = Server::start(ServerOptions::default());
    let output = Command::new(python)
        .args(["-c", SCRIPT, &server.url("")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("the script's JSON");
    assert_eq!(
        out["models"],
        serde_json::json!(["kokoro", "tts-1", "tts-1-hd", "gpt-4o-mini-tts"])
    );
    assert_eq!(out["retrieved"], "tts-1");
    assert_eq!(out["wav_riff"], true, "{out}");
    assert!(out["wav_bytes"].as_u64().unwrap() > 48_000, "{out}");
    assert_eq!(out["aac_type"], "audio/aac", "{out}");
    assert_eq!(out["aac_sync"], true, "{out}");
    assert_eq!(out["content_type"], "text/event-stream", "{out}");
    assert_eq!(
        out["types"],
        serde_json::json!(["speech.audio.delta", "speech.audio.done"])
    );
    assert_eq!(out["last"], "speech.audio.done");
    assert!(out["deltas"].as_u64().unwrap() >= 1, "{out}");
    assert!(out["mp3_bytes"].as_u64().unwrap() > 5_000, "{out}");
    assert!(out["usage"]["input_tokens"].as_u64().unwrap() > 0, "{out}");
}
