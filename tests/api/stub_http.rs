//! A local HTTP server for one test (axum on port 0): the stand-in for an
//! outside API — a model's chat completions or moderations, a webhook
//! receiver. Never the network. Stops when dropped.

pub struct StubHttp {
    /// `http://127.0.0.1:{port}`, without a trailing slash.
    pub base: String,
    server: tokio::task::JoinHandle<()>,
}

impl StubHttp {
    pub async fn start(app: axum::Router) -> StubHttp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port for a stub server");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        StubHttp { base, server }
    }
}

impl Drop for StubHttp {
    fn drop(&mut self) {
        self.server.abort();
    }
}
