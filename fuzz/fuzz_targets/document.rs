//! The YAML/JSON document reader (`nodestatus apply -f`): any text gives resources or errors,
//! never a panic, and a resource read back from its own YAML and JSON output is the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodestatus_api::{parse_documents, to_json, to_value, to_yaml};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(docs) = parse_documents(text) else {
        return;
    };
    for doc in docs {
        let value = to_value(&doc.object, doc.api_version);
        for written in [to_yaml(&value), to_json(&value)] {
            let again = parse_documents(&written).expect("our own output reads back");
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].object, doc.object);
        }
    }
});
