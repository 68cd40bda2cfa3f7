//! Migration: at restore the watched objects live on another filesystem
//! than at dump (images moved to another host, a container's rootfs
//! copied). The plugin re-attaches the watches by path and says so.

use std::process::Command;

use crate::harness::*;

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    let st = Command::new("cp").arg("-a").arg(format!("{}/.", from.display())).arg(to).status().expect("cp");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// The tmpfs holding every watched object is replaced, between dump and
/// restore, by a new tmpfs with a copy of the same tree: same paths, other
/// filesystem, other inodes. The restored process behaves as the control
/// run, and the restore log says the watches were re-attached by path.
#[test]
fn watches_reattach_by_path_on_another_filesystem() {
    let t = TestDir::new("inotify_migration");
    let _m1 = TmpfsMount::new(&t.join("work-control/mnt")).expect("mount tmpfs");
    let expected = control(&t, "inotify", "tmpfs", |_| {});

    let mnt = t.join("work-cr/mnt");
    let old = TmpfsMount::new(&mnt).expect("mount tmpfs");
    let mut r = Run::start(&t, "cr", "inotify", "tmpfs", |_| {});
    let d = r.dump(true, &[], &[]);
    assert!(d.ok(), "dump failed\n{}", d.summary());

    // "Move to another host": a fresh filesystem with a copy of the tree.
    let saved = t.join("saved");
    copy_tree(&mnt, &saved);
    drop(old);
    let _new = TmpfsMount::new(&mnt).expect("mount new tmpfs");
    copy_tree(&saved, &mnt);

    let rs = r.restore(true, &[], &[]);
    assert!(rs.ok(), "restore failed\n{}", rs.summary());
    let record = r.finish();
    assert_same_record("inotify tmpfs: control vs C/R on a new filesystem", &expected, &record);
    let lines = rs.plugin_lines();
    assert!(
        lines.iter().any(|l| l.contains("re-attached by path")),
        "restore.log does not say the watches were re-attached by path:\n{}",
        lines.join("\n")
    );
}
