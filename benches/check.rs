//! Micro-benchmarks of the check pipeline's parts (`cargo bench --bench check`):
//! the tree-sitter parse of one file, the extraction of one file (parse included,
//! as `parse_source` does both), and the revision graph of 10,000 revisions. The
//! end-to-end figures (the binary on a 10,000-file tree, memory, Alembic) come from
//! `scripts/bench`; see docs/performance.md.

#[path = "common/corpus.rs"]
mod corpus;

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use migverify::graph::RevisionGraph;
use migverify::migration::{Migration, parse_source};

/// A typical file of the corpus: the one of median size.
fn typical_file(c: &corpus::Corpus) -> &corpus::CorpusFile {
    let mut by_size: Vec<&corpus::CorpusFile> = c.files.iter().collect();
    by_size.sort_by_key(|f| f.text.len());
    by_size[by_size.len() / 2]
}

fn per_file(c: &mut Criterion) {
    let corpus = corpus::generate(1_000, 42);
    let file = typical_file(&corpus);
    let mut group = c.benchmark_group("one file");
    group.throughput(Throughput::Bytes(file.text.len() as u64));
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .unwrap();
    group.bench_function("tree-sitter parse", |b| {
        b.iter(|| parser.parse(black_box(&file.text), None).unwrap())
    });
    group.bench_function("parse + extract (parse_source)", |b| {
        b.iter(|| {
            parse_source(
                PathBuf::from(&file.name),
                black_box(file.text.as_bytes().to_vec()),
            )
        })
    });
    group.finish();
}

fn graph(c: &mut Criterion) {
    let corpus = corpus::generate(10_000, 42);
    let mut migrations: Vec<Migration> = corpus
        .files
        .iter()
        .map(|f| parse_source(PathBuf::from(&f.name), f.text.as_bytes().to_vec()))
        .collect();
    migrations.sort_by(|a, b| a.path.cmp(&b.path));
    let mut group = c.benchmark_group("graph");
    group.throughput(Throughput::Elements(migrations.len() as u64));
    group.bench_function("build, 10k revisions", |b| {
        b.iter(|| RevisionGraph::build(black_box(&migrations)))
    });
    group.finish();
}

criterion_group!(benches, per_file, graph);
criterion_main!(benches);
