//! Changelist entries (`*.change` files in the trust dir, which the Go client writes too):
//! reading one never panics, and what is read writes back and reads again to the same change.
#![no_main]

use libfuzzer_sys::fuzz_target;
use notary_client::changelist::Changelist;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let staged = dir.path().join("staged");
    if std::fs::create_dir(&staged).is_err()
        || std::fs::write(staged.join("01796160553855136418_fuzz.change"), data).is_err()
    {
        return;
    }
    let Ok(changes) = Changelist::new(staged).list() else {
        return;
    };
    assert_eq!(changes.len(), 1);
    let again = Changelist::new(dir.path().join("again"));
    for (_, change) in &changes {
        again
            .add(change)
            .expect("a change read from disk can be written back");
    }
    let reread = again.list().expect("a written change reads back");
    let reread: Vec<_> = reread.into_iter().map(|(_, c)| c).collect();
    let original: Vec<_> = changes.into_iter().map(|(_, c)| c).collect();
    assert_eq!(reread, original);
});
