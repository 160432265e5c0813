//! Temporary directories for tests: uniquely named under the system temp dir with a prefix that
//! says which test made them, and removed with their contents when dropped, also when the test
//! panics, so test runs leave nothing behind in `/tmp`.

use std::ops::Deref;
use std::path::Path;

/// A fresh directory `<temp dir>/<prefix>-XXXXXX`, removed with everything in it on drop.
///
/// It derefs to its [`Path`], so `dir.join(..)` and `&dir` work wherever a path is expected; keep
/// it in whatever owns the node or process that uses the directory, so the directory lives exactly
/// as long as they do.
#[derive(Debug)]
pub struct TestDir(tempfile::TempDir);

impl TestDir {
    /// A new empty directory whose name starts with `prefix` (e.g. `linkmq-access`).
    pub fn new(prefix: &str) -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("create a temporary directory {prefix}-*: {e}"));
        TestDir(dir)
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Deref for TestDir {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

#[cfg(test)]
mod tests {
    use super::TestDir;

    #[test]
    fn the_directory_and_its_contents_go_on_drop_and_on_panic() {
        let dir = TestDir::new("linkmq-testdir");
        std::fs::create_dir_all(dir.join("data/sub")).unwrap();
        std::fs::write(dir.join("data/sub/f"), "x").unwrap();
        let path = dir.to_path_buf();
        assert!(
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("linkmq-testdir-")
        );
        drop(dir);
        assert!(!path.exists());

        let kept = std::panic::catch_unwind(|| {
            let dir = TestDir::new("linkmq-testdir");
            std::fs::write(dir.join("f"), "x").unwrap();
            let path = dir.to_path_buf();
            std::panic::panic_any(path);
        })
        .unwrap_err();
        let path = kept.downcast::<std::path::PathBuf>().unwrap();
        assert!(!path.exists(), "{} survived a panic", path.display());
    }
}
