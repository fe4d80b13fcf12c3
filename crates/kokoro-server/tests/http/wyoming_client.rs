//! The Wyoming server driven by the real client library (the `wyoming`
//! package, as Home Assistant uses it) over loopback: `describe`, whole and
//! streaming synthesis, voices by name and by language, and error events for
//! bad ones; and, byte by byte from Rust, the bounds: the connection cap, the
//! idle timeout, a header line that is not JSON.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use kokoro_server::wyoming::WyomingOptions;

const CLIENT: &str = "wyoming==1.10.2";

/// A Wyoming server on a free loopback port, in this process; stopped when dropped.
struct WyomingServer {
    port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WyomingServer {
    fn start(options: WyomingOptions) -> Self {
        let engine = crate::engine();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(kokoro_server::wyoming::run(
                listener,
                engine,
                options,
                async {
                    let _ = stopped.await;
                },
            ));
        });
        Self {
            port,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s
    }
}

impl Drop for WyomingServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const SCRIPT: &str = r#"
import asyncio, json, re, sys, time
from wyoming.audio import AudioChunk, AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (Synthesize, SynthesizeChunk, SynthesizeStart,
                         SynthesizeStop, SynthesizeTextFormat, SynthesizeVoice)

host, port = sys.argv[1], int(sys.argv[2])

async def collect(client, until, clock=None):
    got = {"types": [], "bytes": 0}
    while True:
        event = await asyncio.wait_for(client.read_event(), 60)
        if event is None:
            got["types"].append("<closed>")
            return got
        if not got["types"] or got["types"][-1] != event.type:
            got["types"].append(event.type)
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            got["format"] = [start.rate, start.width, start.channels]
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            got["bytes"] += len(chunk.audio)
            if clock is not None and "first_audio" not in clock:
                clock["first_audio"] = time.monotonic()
        elif Error.is_type(event.type):
            error = Error.from_event(event)
            got["error"] = [error.code, error.text]
        if event.type in (until, "error"):
            return got

async def main():
    out = {}
    async with AsyncTcpClient(host, port) as c:
        await c.write_event(Describe().event())
        info = Info.from_event(await c.read_event())
        tts = info.tts[0]
        out["program"] = tts.name
        out["streaming"] = tts.supports_synthesize_streaming
        out["voices"] = len(tts.voices)
        out["languages"] = sorted({l for v in tts.voices for l in v.languages})
        await c.write_event(Synthesize("Hello from the assistant.",
                                       voice=SynthesizeVoice(name="af_heart")).event())
        out["whole"] = await collect(c, "audio-stop")
        await c.write_event(Synthesize("Good afternoon, how are you?",
                                       voice=SynthesizeVoice(language="en-GB")).event())
        out["british"] = await collect(c, "audio-stop")
        await c.write_event(Synthesize("Named by speaker.",
                                       voice=SynthesizeVoice(name="kokoro", speaker="am_adam")).event())
        out["speaker"] = await collect(c, "audio-stop")
        await c.write_event(Synthesize("Nobody.", voice=SynthesizeVoice(name="zz_nobody")).event())
        out["bad_voice"] = await collect(c, "error")
        await c.write_event(Event(type="no-such-event"))
        out["unknown"] = await collect(c, "error")
        await c.write_event(SynthesizeChunk("stray").event())
        out["stray"] = await collect(c, "error")
        await c.write_event(Synthesize("   ").event())
        out["empty"] = await collect(c, "error")
        await c.write_event(Synthesize('<speak>Hello. <break time="1s"/> <voice name="am_adam">Bye.</voice></speak>',
                                       text_format=SynthesizeTextFormat.SSML).event())
        out["ssml"] = await collect(c, "audio-stop")
        await c.write_event(Synthesize("<speak>\n<p>Hi</s></speak>", text_format="ssml").event())
        out["bad_ssml"] = await collect(c, "error")
        await c.write_event(Describe().event())
        out["still_open"] = (await c.read_event()).type

    # An LLM's reply, token by token: audio before the writer is done.
    text = ("The first sentence arrives early. Then a second one follows, word by word, "
            "while the model is still writing. And a third one ends it.")
    tokens = re.findall(r"\S+\s*", text)
    async with AsyncTcpClient(host, port) as c:
        clock = {}
        await c.write_event(SynthesizeStart(voice=SynthesizeVoice(name="af_heart")).event())
        reading = asyncio.create_task(collect(c, "synthesize-stopped", clock))
        for token in tokens:
            await c.write_event(SynthesizeChunk(token).event())
            await asyncio.sleep(0.25)
        clock["writer_done"] = time.monotonic()
        # Home Assistant sends the whole text too, for servers that cannot stream.
        await c.write_event(Synthesize(text).event())
        await c.write_event(SynthesizeStop().event())
        out["stream"] = await reading
        out["audio_before_writer_done"] = clock["first_audio"] < clock["writer_done"]
        out["audio_lead_s"] = clock["writer_done"] - clock["first_audio"]
    print(json.dumps(out))

asyncio.run(main())
"#;

#[test]
fn the_wyoming_client_library_describes_speaks_and_streams() {
    let python = crate::python_with(CLIENT);
    let server = WyomingServer::start(WyomingOptions::default());
    let output = Command::new(python)
        .args(["-c", SCRIPT, "127.0.0.1", &server.port.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: serde_json::Value =
        serde_json::from_slice(output.stdout.trim_ascii()).expect("the script's JSON");
    assert_eq!(out["program"], "kokoro", "{out}");
    assert_eq!(out["streaming"], true, "{out}");
    assert_eq!(out["voices"], crate::engine().voices().len(), "{out}");
    assert_eq!(
        out["languages"],
        serde_json::json!([
            "en-GB", "en-US", "es-ES", "fr-FR", "hi-IN", "it-IT", "ja-JP", "pt-BR", "zh-CN"
        ])
    );
    for (case, min_seconds) in [
        ("whole", 1.0),
        ("british", 0.5),
        ("speaker", 0.5),
        ("ssml", 2.0),
    ] {
        let got = &out[case];
        assert_eq!(
            got["types"],
            serde_json::json!(["audio-start", "audio-chunk", "audio-stop"]),
            "{case}: {out}"
        );
        assert_eq!(got["format"], serde_json::json!([24000, 2, 1]), "{case}");
        let bytes = got["bytes"].as_f64().unwrap();
        assert!(bytes / 48_000.0 > min_seconds, "{case}: {bytes} bytes");
    }
    for (case, code) in [
        ("bad_voice", "bad-voice"),
        ("unknown", "unknown-event"),
        ("stray", "bad-order"),
        ("empty", "bad-text"),
        ("bad_ssml", "bad-ssml"),
    ] {
        assert_eq!(
            out[case]["types"],
            serde_json::json!(["error"]),
            "{case}: {out}"
        );
        assert_eq!(out[case]["error"][0], code, "{case}: {out}");
    }
    assert!(
        out["bad_voice"]["error"][1]
            .as_str()
            .unwrap()
            .contains("zz_nobody"),
        "{out}"
    );
    assert!(
        out["bad_ssml"]["error"][1]
            .as_str()
            .unwrap()
            .contains("line 2"),
        "{out}"
    );
    assert_eq!(out["still_open"], "info");
    // The stream: one audio run for the whole reply, then synthesize-stopped;
    // the whole text sent again inside it was not spoken twice.
    let stream = &out["stream"];
    assert_eq!(
        stream["types"],
        serde_json::json!([
            "audio-start",
            "audio-chunk",
            "audio-stop",
            "synthesize-stopped"
        ]),
        "{out}"
    );
    let seconds = stream["bytes"].as_f64().unwrap() / 48_000.0;
    assert!((5.0..14.0).contains(&seconds), "{seconds} s: {out}");
    assert_eq!(out["audio_before_writer_done"], true, "{out}");
}

/// Reads one event's header line and skips its data and payload.
fn next_event(reader: &mut BufReader<TcpStream>) -> Option<serde_json::Value> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let header: serde_json::Value = serde_json::from_str(&line).unwrap();
    let data_length = header["data_length"].as_u64().unwrap_or(0) as usize;
    let payload_length = header["payload_length"].as_u64().unwrap_or(0) as usize;
    let mut data = vec![0; data_length];
    reader.read_exact(&mut data).unwrap();
    let mut payload = vec![0; payload_length];
    reader.read_exact(&mut payload).unwrap();
    let mut event = header;
    if data_length > 0 {
        event["data"] = serde_json::from_slice(&data).unwrap();
    }
    Some(event)
}

#[test]
fn connections_past_the_cap_idle_ones_and_broken_streams_get_an_error_then_close() {
    let server = WyomingServer::start(WyomingOptions {
        max_connections: 1,
        idle_timeout: Duration::from_millis(500),
        ..WyomingOptions::default()
    });
    // The one connection allowed, idle after half a header.
    let mut first = server.connect();
    first.write_all(b"{\"type\": \"desc").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut second = BufReader::new(server.connect());
    let refusal = next_event(&mut second).expect("an error event");
    assert_eq!(refusal["type"], "error");
    assert_eq!(refusal["data"]["code"], "too-many-connections");
    assert!(next_event(&mut second).is_none(), "then closed");
    let since = Instant::now();
    let mut first = BufReader::new(first);
    let timeout = next_event(&mut first).expect("an error event");
    assert_eq!(timeout["data"]["code"], "timeout", "{timeout}");
    assert!(next_event(&mut first).is_none(), "then closed");
    assert!(since.elapsed() < Duration::from_secs(5));
    // A header line that is not JSON: the stream cannot be followed.
    let mut third = server.connect();
    third.write_all(b"hello\n").unwrap();
    let mut third = BufReader::new(third);
    let error = next_event(&mut third).expect("an error event");
    assert_eq!(error["data"]["code"], "bad-event");
    assert!(
        error["data"]["text"]
            .as_str()
            .unwrap()
            .contains("not a JSON object"),
        "{error}"
    );
    assert!(next_event(&mut third).is_none(), "then closed");
}
