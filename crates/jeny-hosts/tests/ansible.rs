//! The inventories read by the real Ansible (`tests/peers/ansible/setup` installs it): the file
//! form through `ansible-inventory` and `ansible-playbook`, the script form through
//! `ansible-inventory`. The playbook runs against `ansible_connection=local` hosts and records
//! which hosts it saw, with which variables.

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
    std::fs::write(
        dir.path().join("inventory.json"),
        inventory_file(&hosts()).to_string(),
    )
    .unwrap();
    let listed: Value = serde_json::from_str(&ansible(
        "ansible-inventory",
        &["-i", "inventory.json", "--list"],
        dir.path(),
    ))
    .unwrap();
    assert_eq!(groups_of(&listed, "role_web"), ["web-1", "web-2"]);
    assert_eq!(groups_of(&listed, "role_db"), ["db-1"]);
    assert_eq!(groups_of(&listed, "aws_az_us_east_1a"), ["web-1"]);
    let web_1 = &listed["_meta"]["hostvars"]["web-1"];
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
        listed["_meta"]["hostvars"]["db-1"]["ansible_host"],
        "10.0.1.1"
    );
}

#[test]
fn a_playbook_sees_exactly_the_hosts_of_a_group_with_their_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tmp")).unwrap();
    std::fs::create_dir(dir.path().join("seen")).unwrap();
    std::fs::write(
        dir.path().join("inventory.json"),
        inventory_file(&hosts()).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("play.yml"),
        "- hosts: role_web\n  gather_facts: false\n  tasks:\n    - copy:\n        dest: \"{{ playbook_dir }}/seen/{{ inventory_hostname }}\"\n        content: \"{{ ansible_host }} {{ role }} {{ jeny_tags['aws:az'] }}\"\n",
    )
    .unwrap();
    ansible(
        "ansible-playbook",
        &[
            "-i",
            "inventory.json",
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
