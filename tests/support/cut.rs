//! A TCP relay on 127.0.0.1 that a test can cut and heal, to make a server (PostgreSQL)
//! unreachable for the gateway without stopping it for the other tests that share it.

use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// Relays connections to `target` while healed; cut, it drops every relayed connection and
/// closes new ones at once.
pub(crate) struct Cuttable {
    pub addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    accept: tokio::task::JoinHandle<()>,
}

struct State {
    open: bool,
    links: JoinSet<()>,
}

impl Cuttable {
    pub(crate) async fn start(target: String) -> Cuttable {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let state = Arc::new(Mutex::new(State {
            open: true,
            links: JoinSet::new(),
        }));
        let st = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut s = st.lock().unwrap_or_else(|p| p.into_inner());
                if !s.open {
                    continue; // dropped: closed at once
                }
                let target = target.clone();
                s.links.spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Cuttable {
            addr,
            state,
            accept,
        }
    }

    /// Drops every relayed connection; new ones are closed until [`Cuttable::heal`].
    pub(crate) fn cut(&self) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        s.open = false;
        s.links.abort_all();
    }

    pub(crate) fn heal(&self) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).open = true;
    }
}

impl Drop for Cuttable {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
