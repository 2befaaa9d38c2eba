//! The real `kubectl` (`/usr/bin/kubectl`, v1.32) against `nodestatus apiserver` on a free
//! loopback port, with the kubeconfig `nodestatus apiserver kubeconfig` prints, on a temporary
//! SQLite datastore: Calico's documented flow, updates, patches, explain, errors, the token and
//! a watch that sees an agent's status write.

mod common;

use std::process::{Child, Command, Stdio};

use common::{Env, Run, Watcher, without_store_metadata};
use nodestatus_api::{BgpStatus, CalicoNodeStatusStatus};
use nodestatus_store::Datastore;
use serde_json::{Value, json};

const KUBECTL: &str = "/usr/bin/kubectl";

/// The example of SPEC.md, verbatim: what Calico's documentation applies with a heredoc.
const CALICO_EXAMPLE: &str = include_str!("../../../testdata/spec-example.yaml");

const NAME: &str = "my-caliconodestatus-1";

/// A running `nodestatus apiserver` and a kubeconfig reaching it.
struct ApiServer {
    env: Env,
    child: Child,
    kubeconfig: String,
    /// The flags it runs with (a restart serves the same port and certificate).
    flags: Vec<String>,
}

impl ApiServer {
    fn start() -> ApiServer {
        Self::start_in(Env::new())
    }

    /// A server on the SQLite datastore of `env`.
    fn start_in(env: Env) -> ApiServer {
        let tokens = env.file("tokens", "test-token\n");
        let certs = env.dir.path().join("certs").to_string_lossy().into_owned();
        let listen = format!(
            "127.0.0.1:{}",
            nodestatus_controlplane::free_port().expect("a free loopback port")
        );
        let flags: Vec<String> = [
            "--listen",
            &listen,
            "--cert-dir",
            &certs,
            "--token-file",
            &tokens,
        ]
        .map(String::from)
        .to_vec();
        let mut args = vec!["apiserver", "kubeconfig"];
        args.extend(flags.iter().map(String::as_str));
        let kubeconfig = env.file("kubeconfig", &env.ok(&args));
        let child = Self::spawn(&env, &flags);
        ApiServer {
            env,
            child,
            kubeconfig,
            flags,
        }
    }

    /// Starts the server and waits for the line it prints once it listens.
    fn spawn(env: &Env, flags: &[String]) -> Child {
        let mut args = vec!["apiserver"];
        args.extend(flags.iter().map(String::as_str));
        let mut child = env
            .command(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary runs");
        let mut stdout = std::io::BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).expect("reading the first line");
        assert!(
            line.starts_with("serving projectcalico.org/v3 from sqlite "),
            "{line}"
        );
        child
    }

    /// Ends the server (its open watches break), then runs `between`, then starts it again on
    /// the same port with the same certificate.
    fn restart_after(&mut self, between: impl FnOnce(&Env)) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        between(&self.env);
        self.child = Self::spawn(&self.env, &self.flags);
    }

    fn kubectl_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(KUBECTL);
        command
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            // kubectl caches discovery under $HOME/.kube: keep it in the test's directory.
            .env("HOME", self.env.dir.path());
        command
    }

    fn kubectl(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut command = self.kubectl_command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("kubectl runs");
        let input = stdin.unwrap_or_default().to_string();
        let mut pipe = child.stdin.take().expect("piped");
        std::io::Write::write_all(&mut pipe, input.as_bytes()).expect("writing stdin");
        drop(pipe);
        child.wait_with_output().expect("kubectl ends").into()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let run = self.kubectl(args, stdin);
        assert!(run.ok, "kubectl {args:?} failed: {}", run.stderr);
        run.stdout
    }

    fn get_json(&self) -> Value {
        serde_json::from_str(&self.ok(&["get", "caliconodestatus", NAME, "-o", "json"], None))
            .expect("kubectl prints JSON")
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spec(period: u64, classes: &[&str]) -> Value {
    json!({"classes": classes, "node": "my-kadm-node-0", "updatePeriodSeconds": period})
}

#[test]
fn calicos_documented_kubectl_flow_works_end_to_end() {
    let server = ApiServer::start();
    assert_eq!(
        server.ok(&["apply", "-f", "-"], Some(CALICO_EXAMPLE)),
        format!("caliconodestatus.projectcalico.org/{NAME} created\n")
    );
    // The status is the subresource's (the agent's) to write: a create does not store it.
    assert_eq!(
        server.ok(&["get", "caliconodestatus"], None),
        "NAME                    NODE             CLASSES            PERIOD   BGP      ROUTES   LAST UPDATED\n\
         my-caliconodestatus-1   my-kadm-node-0   Agent,BGP,Routes   10s      <none>   <none>   <none>\n"
    );
    let yaml: Value =
        serde_yaml_ng::from_str(&server.ok(&["get", "caliconodestatus", NAME, "-o", "yaml"], None))
            .expect("kubectl prints YAML");
    let last_applied =
        yaml["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"].clone();
    assert_eq!(
        without_store_metadata(yaml),
        json!({
            "apiVersion": "projectcalico.org/v3",
            "kind": "CalicoNodeStatus",
            "metadata": {"name": NAME, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied}},
            "spec": spec(10, &["Agent", "BGP", "Routes"]),
        })
    );
    let json = server.get_json();
    assert_eq!(json["spec"], spec(10, &["Agent", "BGP", "Routes"]));

    let second = CALICO_EXAMPLE.replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 20");
    assert_eq!(
        server.ok(&["apply", "-f", "-"], Some(&second)),
        format!("caliconodestatus.projectcalico.org/{NAME} configured\n")
    );
    let updated = server.get_json();
    assert_eq!(updated["spec"], spec(20, &["Agent", "BGP", "Routes"]));
    // The spec changed once: generation 2. kubectl's record of what it applied is the second
    // configuration, so a third apply diffs against it.
    assert_eq!(
        (
            &json["metadata"]["generation"],
            &updated["metadata"]["generation"]
        ),
        (&json!(1), &json!(2))
    );
    let recorded: Value = serde_json::from_str(
        updated["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("last-applied-configuration"),
    )
    .expect("JSON");
    assert_eq!(recorded["spec"]["updatePeriodSeconds"], 20);
    assert_eq!(
        server.get_json()["metadata"]["uid"],
        json["metadata"]["uid"]
    );

    assert_eq!(
        server.ok(
            &[
                "patch",
                "caliconodestatus",
                NAME,
                "--type",
                "merge",
                "-p",
                r#"{"spec":{"updatePeriodSeconds":30}}"#
            ],
            None
        ),
        format!("caliconodestatus.projectcalico.org/{NAME} patched\n")
    );
    assert_eq!(
        server.ok(
            &[
                "patch",
                "caliconodestatus",
                NAME,
                "--type",
                "json",
                "-p",
                r#"[{"op":"replace","path":"/spec/classes","value":["BGP"]}]"#
            ],
            None
        ),
        format!("caliconodestatus.projectcalico.org/{NAME} patched\n")
    );
    assert_eq!(server.get_json()["spec"], spec(30, &["BGP"]));

    assert_eq!(
        server.ok(&["delete", "caliconodestatus", NAME], None),
        format!("caliconodestatus.projectcalico.org \"{NAME}\" deleted\n")
    );
    let gone = server.kubectl(&["get", "caliconodestatus", NAME], None);
    assert!(!gone.ok);
    assert_eq!(
        gone.stderr,
        format!(
            "Error from server (NotFound): caliconodestatuses.projectcalico.org \"{NAME}\" not found\n"
        )
    );
}

#[test]
fn kubectl_explain_reads_the_schema() {
    let server = ApiServer::start();
    let explained = server.ok(
        &["explain", "caliconodestatus.spec.updatePeriodSeconds"],
        None,
    );
    assert_eq!(
        explained,
        "GROUP:      projectcalico.org\n\
         KIND:       CalicoNodeStatus\n\
         VERSION:    v3\n\n\
         FIELD: updatePeriodSeconds <integer>\n\n\n\
         DESCRIPTION:\n    Seconds between refreshes; 0 stops refreshing. At most 86400.\n    \n\n"
    );
}

#[test]
fn an_invalid_resource_gets_kubectls_error_with_the_field_paths_and_is_not_stored() {
    let server = ApiServer::start();
    let bad = CALICO_EXAMPLE
        .replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 100000")
        .replace("[Agent, BGP, Routes]", "[Agent, Foo]");
    let refused = server.kubectl(&["apply", "-f", "-"], Some(&bad));
    assert!(!refused.ok);
    assert_eq!(
        refused.stderr,
        "The CalicoNodeStatus \"my-caliconodestatus-1\" is invalid: \n\
         * spec.classes[1]: \"Foo\" is not one of Agent, BGP, Routes\n\
         * spec.updatePeriodSeconds: 100000 is out of range 0..86400\n"
    );
    let listed = server.kubectl(&["get", "caliconodestatus"], None);
    assert_eq!(
        (listed.stdout.as_str(), listed.stderr.as_str()),
        ("", "No resources found\n")
    );
}

#[test]
fn a_request_without_the_token_is_refused() {
    let server = ApiServer::start();
    let refused = server.kubectl(&["get", "caliconodestatus", "--token", "wrong"], None);
    assert!(!refused.ok);
    // kubectl logs each refused discovery attempt, then says why it gives up.
    assert_eq!(
        refused.stderr.lines().last(),
        Some(
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)"
        )
    );
}

#[test]
fn kubectl_get_watch_sees_a_status_an_agent_writes() {
    let server = ApiServer::start();
    server.ok(&["apply", "-f", "-"], Some(CALICO_EXAMPLE));
    let watcher = Watcher::start(server.kubectl_command(&["get", "caliconodestatus", "-w"]));
    let first = watcher.next_lines(2);
    assert_eq!(
        first,
        [
            "NAME                    NODE             CLASSES            PERIOD   BGP      ROUTES   LAST UPDATED",
            "my-caliconodestatus-1   my-kadm-node-0   Agent,BGP,Routes   10s      <none>   <none>   <none>",
        ]
    );
    // As the agent does: a status-only, compare-and-swap write into the datastore.
    let rt = common::runtime();
    let store = server.env.store();
    let current = rt.block_on(store.get(NAME)).expect("the object is there");
    let status = CalicoNodeStatusStatus {
        last_updated: Some(jiff::Timestamp::now().to_string()),
        bgp: Some(BgpStatus {
            number_established_v4: 2,
            number_not_established_v4: 1,
            ..BgpStatus::default()
        }),
        ..CalicoNodeStatusStatus::default()
    };
    rt.block_on(
        store.write_status(
            NAME,
            &status,
            current
                .metadata
                .resource_version
                .as_deref()
                .unwrap_or_default(),
        ),
    )
    .expect("the status is written");
    let row = watcher.next_lines(1).remove(0);
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells[..7],
        [
            "my-caliconodestatus-1",
            "my-kadm-node-0",
            "Agent,BGP,Routes",
            "10s",
            "2/3",
            "established",
            "<none>"
        ]
    );
}

#[test]
fn kubectl_server_side_apply_and_edit_change_the_spec() {
    let server = ApiServer::start();
    assert_eq!(
        server.ok(&["apply", "--server-side", "-f", "-"], Some(CALICO_EXAMPLE)),
        format!("caliconodestatus.projectcalico.org/{NAME} serverside-applied\n")
    );
    let second = CALICO_EXAMPLE.replace("updatePeriodSeconds: 10", "updatePeriodSeconds: 20");
    assert_eq!(
        server.ok(&["apply", "--server-side", "-f", "-"], Some(&second)),
        format!("caliconodestatus.projectcalico.org/{NAME} serverside-applied\n")
    );
    let applied = server.get_json();
    assert_eq!(applied["spec"], spec(20, &["Agent", "BGP", "Routes"]));

    // `kubectl edit` with a scripted editor: it changes the period in the YAML kubectl opens.
    let editor = server.env.file(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/updatePeriodSeconds: 20/updatePeriodSeconds: 45/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let edited = server
        .kubectl_command(&["edit", "caliconodestatus", NAME])
        .env("EDITOR", &editor)
        .output()
        .expect("kubectl edit runs");
    assert!(
        edited.status.success(),
        "{}",
        String::from_utf8_lossy(&edited.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&edited.stdout),
        format!("caliconodestatus.projectcalico.org/{NAME} edited\n")
    );
    let after = server.get_json();
    assert_eq!(after["spec"], spec(45, &["Agent", "BGP", "Routes"]));
    assert_eq!(
        (
            &applied["metadata"]["generation"],
            &after["metadata"]["generation"]
        ),
        (&json!(2), &json!(3))
    );
    assert_eq!(after["metadata"]["uid"], applied["metadata"]["uid"]);

    // Field ownership: the edit took the period from the server-side applier, so applying the
    // old period again conflicts, naming the field and its owner, and changes nothing...
    let owners = |server: &ApiServer| -> Vec<(String, String, Value)> {
        let obj: Value = serde_json::from_str(&server.ok(
            &[
                "get",
                "caliconodestatus",
                NAME,
                "-o",
                "json",
                "--show-managed-fields",
            ],
            None,
        ))
        .expect("JSON");
        obj["metadata"]["managedFields"]
            .as_array()
            .expect("managedFields")
            .iter()
            .map(|e| {
                (
                    e["manager"].as_str().unwrap_or_default().to_string(),
                    e["operation"].as_str().unwrap_or_default().to_string(),
                    e["fieldsV1"].clone(),
                )
            })
            .collect()
    };
    let spec_fields = |fields: &[&str]| {
        let map: serde_json::Map<String, Value> = fields
            .iter()
            .map(|f| (format!("f:{f}"), json!({})))
            .collect();
        json!({"f:spec": map})
    };
    assert_eq!(
        owners(&server),
        [
            (
                "kubectl".into(),
                "Apply".into(),
                spec_fields(&["classes", "node"])
            ),
            (
                "kubectl-edit".into(),
                "Update".into(),
                spec_fields(&["updatePeriodSeconds"])
            ),
        ]
    );
    let conflict = server.kubectl(&["apply", "--server-side", "-f", "-"], Some(&second));
    assert!(!conflict.ok);
    assert!(
        conflict.stderr.contains(
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using projectcalico.org/v3: .spec.updatePeriodSeconds"
        ),
        "{}",
        conflict.stderr
    );
    assert_eq!(
        server.get_json()["spec"],
        spec(45, &["Agent", "BGP", "Routes"])
    );
    // ... until it is forced, which takes the field back.
    server.ok(
        &["apply", "--server-side", "--force-conflicts", "-f", "-"],
        Some(&second),
    );
    assert_eq!(
        server.get_json()["spec"],
        spec(20, &["Agent", "BGP", "Routes"])
    );
    assert_eq!(
        owners(&server),
        [(
            "kubectl".into(),
            "Apply".into(),
            spec_fields(&["classes", "node", "updatePeriodSeconds"])
        )]
    );

    // `nodestatus get`, like kubectl, leaves them out unless asked.
    let ours = |extra: &[&str]| -> Value {
        let mut args = vec!["get", NAME, "-o", "json"];
        args.extend(extra);
        serde_json::from_str(&server.env.ok(&args)).expect("JSON")
    };
    assert_eq!(ours(&[])["metadata"].get("managedFields"), None);
    assert_eq!(
        ours(&["--show-managed-fields"])["metadata"]["managedFields"][0]["manager"],
        "kubectl"
    );

    // A label applied once and then left out of the configuration is removed.
    let labelled = second.replace(
        "metadata: {name: my-caliconodestatus-1}",
        "metadata: {name: my-caliconodestatus-1, labels: {team: net}}",
    );
    assert_ne!(labelled, second, "the example names the resource");
    server.ok(&["apply", "--server-side", "-f", "-"], Some(&labelled));
    assert_eq!(
        server.get_json()["metadata"]["labels"],
        json!({"team": "net"})
    );
    server.ok(&["apply", "--server-side", "-f", "-"], Some(&second));
    assert_eq!(server.get_json()["metadata"].get("labels"), None);
}

/// The lab's directory, taken down (then removed) however the test ends.
struct LabDir {
    dir: tempfile::TempDir,
}

impl LabDir {
    fn path(&self) -> String {
        self.dir.path().to_string_lossy().into_owned()
    }
}

impl Drop for LabDir {
    fn drop(&mut self) {
        // Runs before `dir` is removed: the lab's state is still there to find.
        let _ = Command::new(common::BIN)
            .args(["lab", "down", "--dir", &self.path()])
            .output();
    }
}

#[test]
fn kubectl_get_watch_follows_the_real_bird_labs_agents() {
    let env = Env::new();
    let lab = LabDir {
        dir: tempfile::tempdir().expect("a lab directory"),
    };
    let up = env
        .command(&[
            "lab",
            "up",
            "--nodes",
            "2",
            "--period",
            "2",
            "--dir",
            &lab.path(),
        ])
        .env(
            "NODESTATUS_CONTEXT_FILE",
            env.dir.path().join("context.json"),
        )
        .output()
        .expect("lab up runs");
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    // kubectl, through our API server on the lab's datastore, follows what the agents write
    // from their real BIRD daemons every 2 s.
    let server = ApiServer::start_in(env);
    let watcher = Watcher::start(server.kubectl_command(&["get", "caliconodestatus", "-w"]));
    let listed = watcher.next_lines(3);
    assert!(listed[0].starts_with("NAME "), "{listed:?}");
    let names: Vec<&str> = listed[1..]
        .iter()
        .filter_map(|row| row.split_whitespace().next())
        .collect();
    assert_eq!(names, ["lab-n1", "lab-n2"]);
    // A new resource for node n1: kubectl sees it created, then the status n1's agent writes
    // from its BIRD (an agent writes only when the status changes, not every period).
    server.ok(
        &["apply", "-f", "-"],
        Some(
            "apiVersion: projectcalico.org/v3\nkind: CalicoNodeStatus\nmetadata: {name: extra-n1}\n\
             spec: {node: n1, classes: [BGP], updatePeriodSeconds: 2}\n",
        ),
    );
    let rows = watcher.next_lines(2);
    let cells: Vec<Vec<&str>> = rows
        .iter()
        .map(|r| r.split_whitespace().collect())
        .collect();
    assert_eq!(
        cells[0][..6],
        ["extra-n1", "n1", "BGP", "2s", "<none>", "<none>"]
    );
    assert_eq!(cells[1][..2], ["extra-n1", "n1"], "{rows:?}");
    assert_eq!(cells[1][5], "established", "{rows:?}");
}

/// `kubectl wait` follows the object with client-go's reflector (list, then watch from the
/// list's version). The server goes away while it watches; meanwhile the object changes and
/// the datastore's history is compacted, so when the server is back the reflector's watch from
/// its old version gets `410 Expired`: it lists again and sees the change.
#[test]
fn a_watch_from_a_compacted_version_gets_410_and_kubectl_recovers() {
    let mut server = ApiServer::start();
    server.ok(&["apply", "-f", "-"], Some(CALICO_EXAMPLE));
    let old_version = server.get_json()["metadata"]["resourceVersion"]
        .as_str()
        .expect("a resourceVersion")
        .to_string();

    // -v=6 logs every request kubectl makes, -v=4 the reflector's reasons to list again.
    let mut wait = server
        .kubectl_command(&[
            "wait",
            &format!("caliconodestatus/{NAME}"),
            "--for=jsonpath={.spec.updatePeriodSeconds}=30",
            "--timeout=120s",
            "-v=6",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl wait runs");
    let stderr = wait.stderr.take().expect("piped");
    let (tx, log) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let watching = |line: &str| line.contains("watch=true") && line.contains(" 200 OK");
    while !seen.iter().any(|l: &String| watching(l)) {
        let line = log
            .recv_timeout(common::SEEN_WITHIN)
            .unwrap_or_else(|_| panic!("kubectl wait never watched; it logged: {seen:#?}"));
        seen.push(line);
    }
    // client-go lists again, rather than resuming the watch from its version, after a watch
    // that lasted less than a second ("very short watch"): let this one run longer than that.
    std::thread::sleep(std::time::Duration::from_secs(2));

    server.restart_after(|env| {
        let store = env.store();
        common::runtime().block_on(async {
            let mut obj = store.get(NAME).await.expect("the object");
            for period in [20, 30] {
                obj.spec.update_period_seconds = period;
                obj = store.update(&obj, None).await.expect("an update");
            }
            store.compact().await.expect("compacting");
        });
    });

    let exit = wait.wait().expect("kubectl wait ends");
    reader.join().expect("the stderr reader ends");
    seen.extend(log.try_iter());
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut wait.stdout.take().expect("piped"), &mut stdout)
        .expect("reading stdout");
    assert!(exit.success(), "kubectl wait failed: {stdout} {seen:#?}");
    assert_eq!(
        stdout,
        format!("caliconodestatus.projectcalico.org/{NAME} condition met\n")
    );
    // The reflector's watch from the version it had listed was refused as expired (then it
    // listed again): the server answered 410, as an HTTP status or as the stream's ERROR event.
    let expired = format!("too old resource version: {old_version}");
    let resumed_from_old = |l: &&String| {
        l.contains("watch=true") && l.contains(&format!("resourceVersion={old_version}"))
    };
    assert!(
        seen.iter().filter(resumed_from_old).count() >= 2,
        "the reflector did not watch again from {old_version}: {seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains(&expired) || l.contains(" 410 Gone")),
        "no 410 for {old_version}: {seen:#?}"
    );

    // The same, raw: a watch from the compacted version is answered with a 410 Status.
    let raw = server.kubectl(
        &[
            "get",
            "--raw",
            &format!(
                "/apis/projectcalico.org/v3/caliconodestatuses?watch=true&resourceVersion={old_version}"
            ),
        ],
        None,
    );
    let said = format!("{}{}", raw.stdout, raw.stderr);
    assert!(said.contains("410") || said.contains(&expired), "{said}");
}

/// Without `--token-file` the server asks for the token it generated, and the kubeconfig it
/// prints carries it: kubectl neither prompts for a username (as it does on a kubeconfig
/// without credentials) nor gets in without it.
#[test]
fn without_a_token_file_the_printed_kubeconfig_carries_the_generated_token() {
    let env = Env::new();
    let certs = env.dir.path().join("certs").to_string_lossy().into_owned();
    let listen = format!(
        "127.0.0.1:{}",
        nodestatus_controlplane::free_port().expect("a free loopback port")
    );
    let flags: Vec<String> = ["--listen", &listen, "--cert-dir", &certs]
        .map(String::from)
        .to_vec();
    let kubeconfig = env.file(
        "kubeconfig",
        &env.ok(&[
            "apiserver",
            "kubeconfig",
            "--listen",
            &listen,
            "--cert-dir",
            &certs,
        ]),
    );
    let server = ApiServer {
        child: ApiServer::spawn(&env, &flags),
        env,
        kubeconfig,
        flags,
    };
    assert_eq!(
        server.ok(&["apply", "-f", "-"], Some(CALICO_EXAMPLE)),
        format!("caliconodestatus.projectcalico.org/{NAME} created\n")
    );
    let refused = server.kubectl(&["get", "caliconodestatus", "--token=guessed"], None);
    assert!(!refused.ok);
    assert!(
        refused
            .stderr
            .contains("You must be logged in to the server (Unauthorized)"),
        "{}",
        refused.stderr
    );
}
