//! The server over loopback, in-process, on the real engine: the API and the
//! web page in a headless browser. One test binary: a process loads ONNX
//! Runtime once. Built with the `model-tests` feature, which `cargo xtask test`
//! turns on.

#[cfg(not(feature = "model-tests"))]
#[test]
fn real_model_tests_are_off_without_the_model_tests_feature() {
    eprintln!(
        "skipped: the server's real-model tests need `--features model-tests` and the assets; \
         `cargo xtask test` runs them"
    );
}

#[cfg(feature = "model-tests")]
mod api;
#[cfg(feature = "model-tests")]
mod browser;
#[cfg(feature = "model-tests")]
mod openai_client;

#[cfg(feature = "model-tests")]
mod wyoming_client;

#[cfg(feature = "model-tests")]
pub use server::{engine, Server};

/// A Python with `package` (pinned, `name==version`), in a virtual
/// environment of its own under the target directory, made on first use; a
/// machine without `python3 -m venv` and pip fails the test, saying so.
#[cfg(feature = "model-tests")]
pub fn python_with(package: &str) -> std::path::PathBuf {
    kokoro_dev::python_with(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")), package)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(feature = "model-tests")]
mod server {
    use std::sync::OnceLock;

    use kokoro::{AssetOptions, Config, Tts, Workers};
    use kokoro_server::{router, serve_on, ServerOptions};

    /// One engine for every test server (streaming layout, as `kokoro serve`).
    pub fn engine() -> Tts {
        static T: OnceLock<Tts> = OnceLock::new();
        T.get_or_init(|| {
            Tts::open(Config {
                assets: AssetOptions {
                    cache_dir: std::env::var_os("KOKORO_CACHE_DIR").map(Into::into),
                    ..AssetOptions::default()
                },
                workers: Workers {
                    streaming: true,
                    ..Workers::default()
                },
                ..Config::default()
            })
            .expect("the engine opens")
        })
        .clone()
    }

    /// A server on a free loopback port, in this process; stopped when dropped.
    pub struct Server {
        base: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Server {
        pub fn start(options: ServerOptions) -> Server {
            let limits = options.limits;
            let app = router(engine(), options).expect("the router");
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let thread = std::thread::spawn(move || {
                runtime.block_on(serve_on(listener, app, limits, async {
                    let _ = stopped.await;
                }));
            });
            Server {
                base,
                stop: Some(stop),
                thread: Some(thread),
            }
        }

        pub fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        /// `host:port`.
        pub fn addr(&self) -> &str {
            self.base.trim_start_matches("http://")
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            if let Some(stop) = self.stop.take() {
                let _ = stop.send(());
            }
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}
