use super::*;
use serde_yaml::Value;

fn key(k: &str) -> Seg {
    Seg::Key(k.into())
}

const DOC: &str = "# the demo pipeline
name: demo   # keep me
stages:
  - name: build
    # compile first
    steps:
      - name: compile
        script: |
          make all
          make check

      - name: package # inline
        script: tar czf out.tgz .
  - name: test
    needs: [build]
    steps:
      - name: unit
        script: cargo test
";

fn stage_steps(stage: usize) -> Vec<Seg> {
    vec![key("stages"), Seg::Index(stage), key("steps")]
}

fn check(edit: Edit) -> String {
    let edited = apply(DOC, &[edit]).unwrap();
    assert!(edited.lossless, "not lossless:\n{}", edited.text);
    for comment in [
        "# the demo pipeline",
        "# keep me",
        "# compile first",
        "# inline",
    ] {
        assert!(
            edited.text.contains(comment),
            "lost {comment}:\n{}",
            edited.text
        );
    }
    edited.text
}

#[test]
fn push_step_keeps_comments_and_indentation() {
    let step = mapping([("name", "lint".into()), ("script", "echo lint".into())]);
    let text = check(Edit::Push {
        seq: stage_steps(1),
        value: step,
    });
    assert!(text.ends_with("      - name: unit\n        script: cargo test\n      - name: lint\n        script: echo lint\n"), "{text}");
}

#[test]
fn push_after_block_scalar_lands_after_its_last_line() {
    let mut doc: Value = serde_yaml::from_str(DOC).unwrap();
    let text = check(Edit::Push {
        seq: stage_steps(0),
        value: mapping([("name", "x".into())]),
    });
    let seq = value_at(&mut doc, &stage_steps(0)).unwrap();
    let Value::Sequence(items) = seq else {
        panic!()
    };
    items.push(mapping([("name", "x".into())]));
    assert_eq!(serde_yaml::from_str::<Value>(&text).unwrap(), doc);
    assert!(
        text.contains("        script: tar czf out.tgz .\n      - name: x\n  - name: test"),
        "{text}"
    );
}

#[test]
fn set_replaces_and_adds_keys_in_place() {
    let step = vec![key("stages"), Seg::Index(0), key("steps"), Seg::Index(1)];
    let text = check(Edit::Set {
        map: step.clone(),
        key: "name".into(),
        value: Some("bundle".into()),
    });
    assert!(text.contains("      - name: bundle # inline\n"), "{text}");
    let text = check(Edit::Set {
        map: step.clone(),
        key: "timeout".into(),
        value: Some("5m".into()),
    });
    assert!(
        text.contains("        script: tar czf out.tgz .\n        timeout: 5m\n  - name: test"),
        "{text}"
    );
    let text = check(Edit::Set {
        map: step,
        key: "script".into(),
        value: Some("one\ntwo\n".into()),
    });
    assert!(
        text.contains("        script: |\n          one\n          two\n  - name: test"),
        "{text}"
    );
}

#[test]
fn flow_lists_are_rewritten_in_flow_style() {
    let stage = vec![key("stages"), Seg::Index(1)];
    let needs = Value::Sequence(vec!["build".into(), "lint".into()]);
    let text = check(Edit::Set {
        map: stage.clone(),
        key: "needs".into(),
        value: Some(needs),
    });
    assert!(text.contains("    needs: [build, lint]\n"), "{text}");
    let text = check(Edit::Push {
        seq: vec![key("stages"), Seg::Index(1), key("needs")],
        value: "lint".into(),
    });
    assert!(text.contains("    needs: [build, lint]\n"), "{text}");
}

#[test]
fn remove_items_and_keys() {
    let text = check(Edit::Remove {
        seq: stage_steps(0),
        index: 0,
    });
    // The blank line after the removed item is the user's; it stays.
    assert!(
        text.contains("    steps:\n\n      - name: package # inline\n"),
        "{text}"
    );
    assert!(!text.contains("make all"));
    let text = check(Edit::Remove {
        seq: vec![key("stages")],
        index: 1,
    });
    assert!(
        !text.contains("cargo test") && text.ends_with("tar czf out.tgz .\n"),
        "{text}"
    );
    // The first key of an item leaves its place on the `- ` line to the next key.
    let step = vec![key("stages"), Seg::Index(1), key("steps"), Seg::Index(0)];
    let text = check(Edit::Set {
        map: step,
        key: "name".into(),
        value: None,
    });
    assert!(text.contains("      - script: cargo test\n"), "{text}");
    let stage = vec![key("stages"), Seg::Index(1)];
    let text = check(Edit::Set {
        map: stage,
        key: "needs".into(),
        value: None,
    });
    assert!(text.contains("  - name: test\n    steps:\n"), "{text}");
}

#[test]
fn last_item_removed_leaves_an_empty_flow_list_and_a_push_fills_it() {
    let text = check(Edit::Remove {
        seq: stage_steps(1),
        index: 0,
    });
    assert!(
        text.contains("  - name: test\n    needs: [build]\n    steps: []\n"),
        "{text}"
    );
    let step = mapping([("name", "again".into()), ("script", "true".into())]);
    let again = apply(
        &text,
        &[Edit::Push {
            seq: stage_steps(1),
            value: step,
        }],
    )
    .unwrap();
    assert!(again.lossless);
    assert!(
        again
            .text
            .contains("    steps:\n      - name: again\n        script: 'true'\n"),
        "{}",
        again.text
    );
}

#[test]
fn json_documents_become_yaml_without_losing_content() {
    let json =
        r#"{"name": "j", "stages": [{"name": "a", "steps": [{"name": "s", "script": "true"}]}]}"#;
    let edited = apply(
        json,
        &[Edit::Push {
            seq: vec![key("stages")],
            value: mapping([("name", "b".into())]),
        }],
    )
    .unwrap();
    let value: Value = serde_yaml::from_str(&edited.text).unwrap();
    assert_eq!(value["stages"][1]["name"], Value::from("b"));
    assert_eq!(
        value["stages"][0]["steps"][0]["script"],
        Value::from("true")
    );
}

#[test]
fn anchors_fall_back_to_a_rewrite_that_keeps_the_meaning() {
    let doc = "base: &b {x: 1}\nother: *b\n";
    let edited = apply(
        doc,
        &[Edit::Set {
            map: vec![key("other")],
            key: "y".into(),
            value: Some(2.into()),
        }],
    )
    .unwrap();
    let value: Value = serde_yaml::from_str(&edited.text).unwrap();
    assert_eq!(value["other"]["y"], Value::from(2));
    assert_eq!(value["base"]["x"], Value::from(1));
}

#[test]
fn bad_paths_are_errors() {
    let err = apply(
        DOC,
        &[Edit::Remove {
            seq: stage_steps(7),
            index: 0,
        }],
    )
    .unwrap_err();
    assert_eq!(err, "stages[7] is not in the document");
    let err = apply(
        DOC,
        &[Edit::Remove {
            seq: stage_steps(0),
            index: 9,
        }],
    )
    .unwrap_err();
    assert_eq!(err, "stages[0].steps has no item 9");
}

#[test]
fn paths_locate_lines() {
    assert_eq!(
        parse_path("stages[1].steps[0].needs"),
        vec![
            key("stages"),
            Seg::Index(1),
            key("steps"),
            Seg::Index(0),
            key("needs")
        ]
    );
    assert_eq!(line_of(DOC, &parse_path("stages[1].needs")), Some(15));
    assert_eq!(line_of(DOC, &parse_path("stages[0].steps[1]")), Some(12));
    // A path that goes past the document stops at the deepest node it reaches.
    assert_eq!(
        line_of(DOC, &parse_path("stages[1].steps[0].timeout")),
        Some(17)
    );
    assert_eq!(line_of(DOC, &parse_path("name")), Some(2));
}
