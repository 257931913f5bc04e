//! A kv-store server inside another program: started on a free port with
//! its data in a directory, used over HTTP, stopped gracefully, and started
//! again on the same directory to show the data survived.
//!
//! ```text
//! cargo run -p kv-server --example embedded [DATA_DIR]
//! ```
//!
//! Without `DATA_DIR`, a temporary directory is used and removed at the end.

use kv_client::KvClient;
use kv_server::{FsyncPolicy, ServerBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => dir.into(),
        None => temporary.path().to_path_buf(),
    };

    // 127.0.0.1 and a free port (ServerBuilder::new's defaults), the data in
    // `dir`, every write synced before it is answered.
    let server = ServerBuilder::new()
        .data_dir(&dir)
        .configure(|config| config.fsync = FsyncPolicy::Always)
        .start()?;
    println!("serving {} from {}", server.url(), dir.display());

    let client = KvClient::new(&server.url().parse()?);
    let visits = match client.get("visits")?.inserted_val {
        Some(n) => n.parse::<u64>()? + 1,
        None => 1,
    };
    client.set("visits", &visits.to_string())?;
    println!("visits = {visits}");

    // Finishes requests in flight, commits what is queued, syncs the log
    // and unlocks the directory.
    server.shutdown()?;

    let again = ServerBuilder::new().data_dir(&dir).start()?;
    let client = KvClient::new(&again.url().parse()?);
    let kept = client.get("visits")?.inserted_val;
    println!("after a restart on {}: visits = {kept:?}", again.url());
    assert_eq!(kept, Some(visits.to_string()));
    again.shutdown()?;
    Ok(())
}
