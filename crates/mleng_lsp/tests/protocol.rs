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

/// The diagnostics of `uri` in the next publish for it that satisfies `wanted`.
fn next_publish(
    out_rx: &crossbeam_channel::Receiver<Outgoing>,
    uri: &str,
    wanted: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        let Ok(Outgoing::Message(lsp_server::Message::Notification(n))) = out_rx.recv_timeout(left)
        else {
            continue;
        };
        if n.method == "textDocument/publishDiagnostics" && n.params["uri"] == uri {
            let diagnostics = n.params["diagnostics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if wanted(&diagnostics) {
                return diagnostics;
            }
        }
    }
    panic!("no such publishDiagnostics for {uri}");
}

#[test]
fn an_edit_of_one_file_republishes_the_findings_it_changes_in_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = std::fs::canonicalize(dir.path()).expect("canonical");
    let model = "import torch.nn as nn\nimport torch.nn.functional as F\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(10, 2)\n\n    def forward(self, x):\n        return F.softmax(self.fc(x), dim=1)\n";
    let train = "import torch\nimport torch.nn as nn\n\nfrom model import Net\n\nmodel = Net()\ncriterion = nn.CrossEntropyLoss()\noptimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nfor x, y in torch.utils.data.DataLoader(range(8)):\n    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n    loss.backward()\n    optimizer.step()\n";
    std::fs::write(root.join("model.py"), model).expect("write");
    std::fs::write(root.join("train.py"), train).expect("write");
    let model_uri = format!("file://{}", root.join("model.py").display());
    let train_uri = format!("file://{}", root.join("train.py").display());
    let (in_tx, in_rx) = crossbeam_channel::unbounded();
    let (out_tx, out_rx) = crossbeam_channel::unbounded();
    let server = std::thread::spawn(move || Server::new(out_tx).expect("worker").run(&in_rx));
    let send = |frames: &[String]| {
        read_loop(Cursor::new(frames.concat()), in_tx.clone()).expect("reading");
    };
    let open = |uri: &str, text: &str| {
        notification(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        )
    };
    let root_uri = format!("file://{}", root.display());
    send(&[
        request(
            1,
            "initialize",
            json!({"capabilities": {}, "rootUri": root_uri}),
        ),
        notification("initialized", json!({})),
        open(&model_uri, model),
        open(&train_uri, train),
    ]);
    let has_arc011 = |d: &[Value]| d.iter().any(|d| d["code"] == "ARC011");
    next_publish(&out_rx, &train_uri, has_arc011);
    // The model loses its final softmax: the training script's finding goes away; it comes
    // back with the softmax. Only the model file is edited.
    for (version, text, present) in [
        (
            2,
            model.replace("F.softmax(self.fc(x), dim=1)", "self.fc(x)"),
            false,
        ),
        (3, model.to_string(), true),
    ] {
        send(&[notification(
            "textDocument/didChange",
            json!({"textDocument": {"uri": model_uri, "version": version}, "contentChanges": [{"text": text}]}),
        )]);
        next_publish(&out_rx, &train_uri, |d| has_arc011(d) == present);
    }
    send(&[
        request(2, "shutdown", Value::Null),
        notification("exit", Value::Null),
    ]);
    assert_eq!(server.join().expect("server thread"), Exit::Clean);
}
