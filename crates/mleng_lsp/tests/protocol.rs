//! The protocol edges, in process: bytes in through the framing, messages out of the server.
//! Malformed and unexpected input gets error responses; the server keeps going and exits
//! as the protocol says.

use std::io::Cursor;
use std::time::Duration;

use mleng_lsp::server::Server;
use mleng_lsp::transport::{read_loop, Outgoing};
use mleng_lsp::Exit;
use serde_json::{json, Value};

fn frame(body: &str) -> String {
    format!("Content-Length: {}\r\n\r\n{body}", body.len())
}

/// Feeds `frames` to a server and returns how it ended and everything it sent.
fn converse(frames: &[String]) -> (Exit, Vec<Value>) {
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    read_loop(Cursor::new(frames.concat()), in_tx).expect("reading from memory");
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let server = Server::new(out_tx).expect("worker thread");
    let exit = server.run(&in_rx);
    let sent = out_rx
        .iter()
        .map(|o| match o {
            Outgoing::Raw(value) => value,
            Outgoing::Message(m) => serde_json::to_value(m).expect("serializable"),
        })
        .collect();
    (exit, sent)
}

fn request(id: i64, method: &str, params: Value) -> String {
    frame(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string())
}

fn notification(method: &str, params: Value) -> String {
    frame(&json!({"jsonrpc": "2.0", "method": method, "params": params}).to_string())
}

fn error_code(sent: &[Value], id: Value) -> Option<i64> {
    sent.iter()
        .find(|m| m.get("id") == Some(&id) && m.get("error").is_some())
        .and_then(|m| m["error"]["code"].as_i64())
}

#[test]
fn odd_input_gets_errors_and_the_server_carries_on() {
    let frames = [
        request(1, "textDocument/hover", json!({})), // before initialize
        request(2, "initialize", json!({"capabilities": {}})),
        notification("initialized", json!({})),
        frame("{this is not json"),
        frame(r#"{"jsonrpc": "2.0", "id": 3}"#), // neither request nor response
        request(4, "textDocument/hover", json!({"nope": true})),
        request(5, "mleng/nonsense", json!({})),
        notification(
            "textDocument/didChange",
            json!({"textDocument": {"uri": "file:///nowhere.py", "version": 2}, "contentChanges": []}),
        ),
        notification("textDocument/didOpen", json!({"textDocument": 7})),
        request(6, "initialize", json!({"capabilities": {}})),
        request(7, "shutdown", Value::Null),
        request(8, "textDocument/hover", json!({})),
        notification("exit", Value::Null),
    ];
    let (exit, sent) = converse(&frames);
    assert_eq!(exit, Exit::Clean);
    assert_eq!(error_code(&sent, json!(1)), Some(-32002)); // server not initialized
    assert!(sent
        .iter()
        .any(|m| m["id"] == 2 && m["result"]["capabilities"]["hoverProvider"] == true));
    assert_eq!(error_code(&sent, Value::Null), Some(-32700)); // parse error
    assert_eq!(error_code(&sent, json!(3)), Some(-32600)); // invalid request
    assert_eq!(error_code(&sent, json!(4)), Some(-32602)); // invalid params
    assert_eq!(error_code(&sent, json!(5)), Some(-32601)); // method not found
    assert_eq!(error_code(&sent, json!(6)), Some(-32600)); // initialized twice
    assert!(sent
        .iter()
        .any(|m| m["id"] == 7 && m.get("error").is_none()));
    assert_eq!(error_code(&sent, json!(8)), Some(-32600)); // after shutdown
}

#[test]
fn exit_without_shutdown_is_abrupt() {
    let frames = [
        request(1, "initialize", json!({"capabilities": {}})),
        notification("exit", Value::Null),
    ];
    assert_eq!(converse(&frames).0, Exit::Abrupt);
}

#[test]
fn a_loose_file_is_reviewed_and_published_with_utf16_columns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("train.py");
    // The emoji is one character for mleng and two UTF-16 units for the client.
    let text = "import torch\nx = '😀'; torch.load(p)\n";
    std::fs::write(&path, text).expect("write");
    let uri = format!("file://{}", path.display());
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let frames = [
        request(1, "initialize", json!({"capabilities": {}})),
        notification("initialized", json!({})),
        notification(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        ),
    ];
    read_loop(Cursor::new(frames.concat()), in_tx.clone()).expect("reading");
    let server = std::thread::spawn(move || Server::new(out_tx).expect("worker").run(&in_rx));
    let published = (0..100)
        .find_map(|_| match out_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Outgoing::Message(lsp_server::Message::Notification(n)))
                if n.method == "textDocument/publishDiagnostics" =>
            {
                Some(n.params)
            }
            _ => None,
        })
        .expect("diagnostics published");
    let exit = [
        request(2, "shutdown", Value::Null),
        notification("exit", Value::Null),
    ];
    read_loop(Cursor::new(exit.concat()), in_tx).expect("reading");
    assert_eq!(server.join().expect("server thread"), Exit::Clean);
    let sec = published["diagnostics"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["code"] == "SEC001"))
        .unwrap_or_else(|| panic!("no SEC001 in {published}"));
    // `torch.load` is the line's 10th character (9 before it), 10 UTF-16 units in.
    assert_eq!(sec["range"]["start"], json!({"line": 1, "character": 10}));
}

#[test]
fn a_fix_all_being_computed_can_be_cancelled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("train.py");
    let text = "import torch\n\n\ndef train(model, loader, optimizer, scaler):\n    for x, y in loader:\n        optimizer.zero_grad()\n        with torch.autocast(\"cuda\"):\n            loss = model(x).sum()\n        scaler.scale(loss).backward()\n        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)\n        scaler.step(optimizer)\n        scaler.update()\n";
    std::fs::write(&path, text).expect("write");
    let uri = format!("file://{}", path.display());
    let action = json!({"title": "fix all", "kind": "source.fixAll.mleng", "data": {"uri": uri}});
    let frames = [
        request(1, "initialize", json!({"capabilities": {}})),
        notification(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        ),
        request(2, "codeAction/resolve", action),
        notification("$/cancelRequest", json!({"id": 2})),
        notification("$/cancelRequest", json!({"id": 99})), // unknown: nothing to answer
        request(3, "shutdown", Value::Null),
        notification("exit", Value::Null),
    ];
    let (exit, sent) = converse(&frames);
    assert_eq!(exit, Exit::Clean);
    assert_eq!(error_code(&sent, json!(2)), Some(-32800)); // request cancelled
    assert_eq!(sent.iter().filter(|m| m["id"] == 2).count(), 1);
    assert!(!sent.iter().any(|m| m["id"] == 99));
}
