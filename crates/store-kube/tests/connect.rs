//! `KubeStore::connect` end to end over real HTTP: the configuration (server, token) comes from
//! the file `KUBECONFIG` names, and requests go through kube's own hyper stack to a loopback
//! server that answers like an API server, a chunked watch stream included.

use std::time::Duration;

use futures::StreamExt;
use nodestatus_store::{Datastore, Listing, NodeFilter, WatchEvent};
use nodestatus_store_kube::KubeStore;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const BASE: &str = "/apis/crd.projectcalico.org/v1/caliconodestatuses";

fn object(name: &str, rv: u64) -> Value {
    json!({
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "CalicoNodeStatus",
        "metadata": {"name": name, "resourceVersion": rv.to_string(), "uid": "5f0c6a0e-0000-4000-8000-000000000001",
                     "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"classes": ["BGP"], "node": "n1", "updatePeriodSeconds": 10}
    })
}

fn typed(value: &Value) -> nodestatus_api::CalicoNodeStatus {
    serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("fixture does not decode: {e}"))
}

/// One request as received: its request line and its Authorization header.
#[derive(Debug, PartialEq)]
struct Seen {
    line: String,
    authorization: Option<String>,
}

/// Reads one request head (these are all GETs without a body).
async fn read_head(conn: &mut TcpStream) -> Seen {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "reading a request head: {other:?} after {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let line = lines.next().unwrap_or_default().to_owned();
    let authorization = lines
        .filter_map(|l| l.split_once(": "))
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_owned());
    Seen {
        line,
        authorization,
    }
}

/// Answers requests in order: a list, a chunked watch stream that ends, then a watch left open.
async fn serve(
    listener: TcpListener,
    seen: mpsc::UnboundedSender<Seen>,
    list: Value,
    events: Vec<Value>,
) {
    let mut open = Vec::new();
    for step in 0.. {
        let Ok((mut conn, _)) = listener.accept().await else {
            return;
        };
        let _ = seen.send(read_head(&mut conn).await);
        let result = match step {
            0 => {
                let body = list.to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                conn.write_all(format!("{head}{body}").as_bytes()).await
            }
            1 => {
                let mut out = String::from(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                );
                for e in &events {
                    let line = format!("{e}\n");
                    out.push_str(&format!("{:x}\r\n{line}\r\n", line.len()));
                }
                out.push_str("0\r\n\r\n");
                conn.write_all(out.as_bytes()).await
            }
            _ => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
                let written = conn.write_all(head.as_bytes()).await;
                open.push(conn);
                written
            }
        };
        if let Err(e) = result {
            panic!("writing a response: {e}");
        }
    }
}

#[test]
fn connect_uses_kubeconfig_and_lists_and_watches_over_http() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("local addr: {e}"));
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\n\
                 users:\n- name: agent\n  user: {{token: fake-token}}\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: agent}}\n\
                 current-context: fake\n"
            ),
        )
        .unwrap_or_else(|e| panic!("writing the kubeconfig: {e}"));
        // SAFETY: this is the only test of this binary and no other thread reads the
        // environment (the runtime is single-threaded and kube reads it in `connect` below).
        unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };

        let a = object("a", 11);
        let b = object("b", 13);
        let (tx, mut seen) = mpsc::unbounded_channel();
        let list = json!({"apiVersion": "crd.projectcalico.org/v1", "kind": "CalicoNodeStatusList",
                          "metadata": {"resourceVersion": "12"}, "items": [a]});
        let events = vec![
            json!({"type": "ADDED", "object": b}),
            json!({"type": "BOOKMARK", "object": {"kind": "CalicoNodeStatus", "apiVersion": "crd.projectcalico.org/v1",
                                                   "metadata": {"resourceVersion": "20"}}}),
        ];
        tokio::spawn(serve(listener, tx, list, events));

        let store = KubeStore::connect().await.unwrap_or_else(|e| panic!("connect: {e}"));
        let filter = NodeFilter::Node("n1".into());
        let listing = store.list(&filter).await.unwrap_or_else(|e| panic!("list: {e}"));
        assert_eq!(listing, Listing { items: vec![typed(&a)], revision: "12".into() });

        let mut stream = store.watch(&filter, Some(&listing.revision)).await.unwrap_or_else(|e| panic!("watch: {e}"));
        let first = tokio::time::timeout(Duration::from_secs(10), stream.next()).await;
        assert!(matches!(&first, Ok(Some(Ok(WatchEvent::Added(obj)))) if *obj == typed(&b)), "{first:?}");

        let token = Some("Bearer fake-token".to_owned());
        let mut requests = Vec::new();
        while requests.len() < 3 {
            match tokio::time::timeout(Duration::from_secs(10), seen.recv()).await {
                Ok(Some(s)) => requests.push(s),
                other => panic!("expected 3 requests, got {requests:?} then {other:?}"),
            }
        }
        assert_eq!(
            requests,
            [
                Seen { line: format!("GET {BASE}?&fieldSelector=spec.node%3Dn1 HTTP/1.1"), authorization: token.clone() },
                Seen {
                    line: format!(
                        "GET {BASE}?&watch=true&timeoutSeconds=290&fieldSelector=spec.node%3Dn1&allowWatchBookmarks=true&resourceVersion=12 HTTP/1.1"
                    ),
                    authorization: token.clone(),
                },
                // The chunked stream ended after the bookmark: resumed from it.
                Seen {
                    line: format!(
                        "GET {BASE}?&watch=true&timeoutSeconds=290&fieldSelector=spec.node%3Dn1&allowWatchBookmarks=true&resourceVersion=20 HTTP/1.1"
                    ),
                    authorization: token,
                },
            ]
        );
    });
}
