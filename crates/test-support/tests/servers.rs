//! Owned servers stop and start on the same port: a restarted redis-server is empty, a restarted
//! PostgreSQL keeps its data. Talks to them the way the crate does, without client libraries:
//! Redis's protocol over a socket, and psql.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use test_support::{or_skip, port_open, Postgres, Redis};

/// Sends one command to the redis-server on `port` and returns its reply's first line.
fn redis_command(port: u16, words: &[&str]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to redis-server");
    let mut request = format!("*{}\r\n", words.len());
    for word in words {
        request.push_str(&format!("${}\r\n{word}\r\n", word.len()));
    }
    stream.write_all(request.as_bytes()).expect("send to redis-server");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("read redis-server's reply");
    line.trim_end().to_string()
}

fn psql_ok(postgres: &Postgres, database: &str, sql: &str) -> bool {
    postgres
        .psql(database)
        .args(["-c", sql])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[test]
fn owned_servers_stop_and_start_on_the_same_port() {
    let Some(redis) = or_skip(Redis::start()) else { return };
    assert_eq!(redis_command(redis.port, &["SET", "k", "v"]), "+OK");
    redis.stop();
    assert!(!port_open(redis.port));
    redis.start_again();
    assert_eq!(
        redis_command(redis.port, &["GET", "k"]),
        "$-1",
        "a restarted redis-server starts empty (no persistence)"
    );

    let Some(postgres) = or_skip(Postgres::start()) else { return };
    let url = postgres.database();
    let database = url.rsplit('/').next().unwrap();
    assert!(psql_ok(&postgres, database, "CREATE TABLE kept (x int)"));
    postgres.stop();
    assert!(!psql_ok(&postgres, database, "SELECT 1"));
    postgres.start_again();
    assert!(psql_ok(&postgres, database, "SELECT COUNT(*) FROM kept"));
}
