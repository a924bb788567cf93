//! The inventories read by the real Ansible (`tests/peers/ansible/setup` installs it): the file
//! form through `ansible-inventory` and `ansible-playbook`, the script form through
//! `ansible-inventory` and `ansible-playbook`. The playbook runs against `ansible_connection=local`
//! hosts and records which hosts it saw, with which variables. Tags holding template syntax reach
//! the playbook as data, in both forms, for hosts added by hand and synced from EC2.

use jeny_core::Timestamp;
use jeny_hosts::inventory::{inventory_file, inventory_list};
use jeny_hosts::{Host, HostSource};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn host(name: &str, address: &str, tags: &[(&str, &str)]) -> Host {
    Host {
        id: name.to_owned(),
        name: name.to_owned(),
        address: address.to_owned(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        source: HostSource::Manual,
        managed_by: None,
        external_id: None,
        gone_at: None,
        last_seen_at: None,
        created_at: Timestamp::from_micros(0),
        updated_at: Timestamp::from_micros(0),
        version: 1,
    }
}

fn hosts() -> Vec<Host> {
    vec![
        host(
            "web-1",
            "10.0.0.1",
            &[
                ("role", "web"),
                ("env", "production"),
                ("aws:az", "us-east-1a"),
            ],
        ),
        host(
            "web-2",
            "10.0.0.2",
            &[
                ("role", "web"),
                ("env", "production"),
                ("aws:az", "us-east-1b"),
            ],
        ),
        host("db-1", "10.0.1.1", &[("role", "db"), ("env", "production")]),
    ]
}

fn ansible(program: &str, args: &[&str], dir: &Path) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("ANSIBLE_HOST_KEY_CHECKING", "False")
        .env("ANSIBLE_LOCAL_TEMP", dir.join("tmp"))
        .env("ANSIBLE_REMOTE_TEMP", dir.join("tmp"))
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} is needed by this test and cannot run ({error}): run tests/peers/ansible/setup")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A value as `ansible-inventory --list` shows it, with the unsafe marking taken off (and checked:
/// every string Ansible read from jeny's inventory must be marked).
fn plain(value: &Value) -> Value {
    match value {
        Value::Object(map) if map.len() == 1 && map.contains_key("__ansible_unsafe") => {
            map["__ansible_unsafe"].clone()
        }
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, item)| (key.clone(), plain(item)))
                .collect(),
        ),
        Value::String(text) => panic!("{text:?} reached Ansible without the unsafe marking"),
        other => other.clone(),
    }
}

fn groups_of(listed: &Value, group: &str) -> Vec<String> {
    let mut members: Vec<String> = listed[group]["hosts"]
        .as_array()
        .unwrap_or_else(|| panic!("no group {group} in {listed}"))
        .iter()
        .map(|name| name.as_str().unwrap().to_owned())
        .collect();
    members.sort();
    members
}

#[test]
fn ansible_reads_the_inventory_file_with_groups_and_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inventory.yml"), inventory_file(&hosts())).unwrap();
    let listed: Value = serde_json::from_str(&ansible(
        "ansible-inventory",
        &["-i", "inventory.yml", "--list"],
        dir.path(),
    ))
    .unwrap();
    assert_eq!(groups_of(&listed, "role_web"), ["web-1", "web-2"]);
    assert_eq!(groups_of(&listed, "role_db"), ["db-1"]);
    assert_eq!(groups_of(&listed, "aws_az_us_east_1a"), ["web-1"]);
    let web_1 = &plain(&listed["_meta"]["hostvars"]["web-1"]);
    assert_eq!(web_1["ansible_host"], "10.0.0.1");
    assert_eq!(web_1["role"], "web");
    assert_eq!(web_1["aws_az"], "us-east-1a");
    assert_eq!(web_1["jeny_tags"]["aws:az"], "us-east-1a");
}

#[test]
fn ansible_reads_the_script_form() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("list.json"),
        inventory_list(&hosts()).to_string(),
    )
    .unwrap();
    let script = dir.path().join("inventory.sh");
    std::fs::write(&script, "#!/bin/sh\nif [ \"$1\" = --list ]; then cat \"$(dirname \"$0\")/list.json\"; else echo '{}'; fi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let listed: Value = serde_json::from_str(&ansible(
        "ansible-inventory",
        &["-i", "inventory.sh", "--list"],
        dir.path(),
    ))
    .unwrap();
    assert_eq!(groups_of(&listed, "role_web"), ["web-1", "web-2"]);
    assert_eq!(
        plain(&listed["_meta"]["hostvars"]["db-1"])["ansible_host"],
        "10.0.1.1"
    );
}

#[test]
fn a_playbook_sees_exactly_the_hosts_of_a_group_with_their_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::create_dir(dir.path().join("seen")).unwrap();
    std::fs::write(dir.path().join("inventory.yml"), inventory_file(&hosts())).unwrap();
    std::fs::write(
        dir.path().join("play.yml"),
        "- hosts: role_web\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ playbook_dir }}/seen/{{ inventory_hostname }}\"\n        content: \"{{ ansible_host }} {{ role }} {{ jeny_tags['aws:az'] }}\"\n",
    )
    .unwrap();
    ansible(
        "ansible-playbook",
        &[
            "-i",
            "inventory.yml",
            "play.yml",
            "-e",
            "ansible_connection=local",
            "-e",
            "ansible_python_interpreter=auto_silent",
        ],
        dir.path(),
    );
    let mut seen: Vec<String> = std::fs::read_dir(dir.path().join("seen"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        ["web-1", "web-2"],
        "the playbook ran on other hosts than the group's"
    );
    let web_2 = std::fs::read_to_string(dir.path().join("seen/web-2")).unwrap();
    assert_eq!(web_2, "10.0.0.2 web us-east-1b");
}

/// The two inventory forms of `hosts` written into `dir`: the file, and a script printing the
/// `--list` form. Returns what `-i` takes for each.
fn both_forms(hosts: &[Host], dir: &Path) -> [&'static str; 2] {
    std::fs::write(dir.join("inventory.yml"), inventory_file(hosts)).unwrap();
    std::fs::write(dir.join("list.json"), inventory_list(hosts).to_string()).unwrap();
    let script = dir.join("inventory.sh");
    std::fs::write(&script, "#!/bin/sh\nif [ \"$1\" = --list ]; then cat \"$(dirname \"$0\")/list.json\"; else echo '{}'; fi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    ["inventory.yml", "inventory.sh"]
}

const LOOKUP: &str = "{{ lookup('pipe','id') }}";
const STATEMENT: &str = "{% if true %}x{% endif %}";

#[test]
fn tags_holding_templates_reach_a_playbook_as_data_in_both_forms() {
    let by_hand = host(
        "by-hand",
        "127.0.0.1",
        &[("Name", LOOKUP), ("shape", STATEMENT), (LOOKUP, "key")],
    );
    let from_ec2 = Host {
        source: HostSource::Aws,
        ..host(
            "i-0123456789abcdef0",
            "127.0.0.1",
            &[("Name", LOOKUP), ("shape", STATEMENT), (LOOKUP, "key")],
        )
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::write(
        dir.path().join("play.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ playbook_dir }}/seen/{{ inventory_hostname }}\"\n        content: \"{{ jeny_tags['Name'] }}|{{ Name }}|{{ jeny_tags['shape'] }}|{{ shape }}|{{ jeny_tags | dictsort | map('first') | join(',') }}\"\n",
    )
    .unwrap();
    for form in both_forms(&[by_hand, from_ec2], dir.path()) {
        let seen = dir.path().join("seen");
        let _ = std::fs::remove_dir_all(&seen);
        std::fs::create_dir(&seen).unwrap();
        ansible(
            "ansible-playbook",
            &[
                "-i",
                form,
                "play.yml",
                "-e",
                "ansible_connection=local",
                "-e",
                "ansible_python_interpreter=auto_silent",
            ],
            dir.path(),
        );
        for name in ["by-hand", "i-0123456789abcdef0"] {
            let printed = std::fs::read_to_string(seen.join(name)).unwrap();
            assert_eq!(
                printed,
                format!("{LOOKUP}|{LOOKUP}|{STATEMENT}|{STATEMENT}|Name,shape,{LOOKUP}"),
                "{form}: host {name} printed its tags evaluated"
            );
        }
    }
}

#[test]
fn every_string_reaches_ansible_exactly_and_marked_unsafe_in_both_forms() {
    let awkward = [
        ("plain", "web"),
        ("spaces", "  leading and trailing  "),
        ("yaml", "a: b # c - [d] {e} & *f !g | > ? % @ `"),
        ("quotes", r#"'single' "double" \back\slash"#),
        ("scalars", "null"),
        ("boolean", "true"),
        ("number", "1e3"),
        ("tilde", "~"),
        ("empty", ""),
        ("unicode", "été 日本 😀"),
        ("separators", "line\u{2028}paragraph\u{2029}bom\u{feff}"),
        ("key: with # yaml", "v"),
        ("{% raw %}", "{{ '{' }}"),
    ];
    let hosts = [host("web-1", "10.0.0.1", &awkward)];
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    let expected: serde_json::Map<String, Value> = awkward
        .iter()
        .map(|(key, value)| (key.to_string(), Value::from(*value)))
        .collect();
    for form in both_forms(&hosts, dir.path()) {
        let listed: Value = serde_json::from_str(&ansible(
            "ansible-inventory",
            &["-i", form, "--list"],
            dir.path(),
        ))
        .unwrap();
        let variables = plain(&listed["_meta"]["hostvars"]["web-1"]);
        assert_eq!(
            variables["jeny_tags"],
            Value::Object(expected.clone()),
            "{form}"
        );
        assert_eq!(variables["ansible_host"], "10.0.0.1", "{form}");
        assert_eq!(variables["spaces"], "  leading and trailing  ", "{form}");
    }
}
