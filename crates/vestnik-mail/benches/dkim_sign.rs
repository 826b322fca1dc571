//! The per-message CPU cost of outgoing mail on its hot path: building the MIME message and
//! DKIM-signing it, for a ~20 KB HTML email (a product digest in Russian).
//!
//! `cargo bench -p vestnik-mail --bench dkim_sign`
//! `cargo bench -p vestnik-mail --bench dkim_sign --features lettre-dkim-bench` also measures
//! lettre's own `dkim` feature (pure-Rust `rsa`) on the same message, for the record: it is the
//! reason signing goes through mail-auth on aws-lc-rs. For comparison, `openssl speed rsa2048`
//! signs in 0.32 ms on one core of this machine.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vestnik_mail::{DkimAlgorithm, DkimKey, DkimSigner, Mailbox, OutgoingMessage, build_message};

fn html(bytes: usize) -> String {
    let mut html = String::from("<!doctype html><html><body><h1>Здравствуйте, Анна!</h1><table>\n");
    let mut i = 0;
    while html.len() < bytes {
        i += 1;
        html.push_str(&format!(
            "<tr><td><a href=\"https://shop.example/t/AbCdEf{i}\"><img src=\"https://cdn.shop.example/p/{i}.jpg\" \
             width=\"120\" alt=\"\"></a></td><td>Товар №{i}: электрический чайник «Заря» 1,7 л \
             <b>{} ₽</b> <s>{} ₽</s></td></tr>\n",
            990 + i,
            1290 + i
        ));
    }
    html.push_str("</table></body></html>\n");
    html
}

fn message() -> OutgoingMessage {
    OutgoingMessage {
        from: Mailbox::new(Some("Магазин «Ромашка»"), "news@shop.example"),
        to: Mailbox::new(Some("Анна Петрова"), "anna@example.org"),
        reply_to: None,
        subject: "Скидки для вас, Анна".into(),
        html: html(20_000),
        text: "Здравствуйте, Анна!\n\nСкидки до 15% на чайники: https://shop.example/t/x\n"
            .repeat(20),
        message_id: "c12.r345.s3@shop.example".into(),
        list_unsubscribe_url: Some("https://shop.example/u/Zm9vYmFyYmF6".into()),
        list_unsubscribe_mailto: Some("unsubscribe+c12.r345@shop.example".into()),
        feedback_id: Some("12:3:campaign:vestnik".into()),
        campaign_header: Some("12".into()),
        date: SystemTime::now(),
    }
}

fn bench(c: &mut Criterion) {
    let msg = message();
    let raw = build_message(&msg).expect("sample message builds");

    let mut group = c.benchmark_group("build_message");
    group.throughput(Throughput::Elements(1));
    group.bench_function("20KB html + text", |b| {
        b.iter(|| build_message(black_box(&msg)))
    });
    group.finish();

    let mut group = c.benchmark_group("dkim_sign");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(5));
    for (name, alg) in [
        ("mail-auth rsa2048", DkimAlgorithm::Rsa2048),
        ("mail-auth ed25519", DkimAlgorithm::Ed25519),
    ] {
        let key = DkimKey::generate(alg, "shop.example", "b1").expect("key");
        let signer = DkimSigner::new(&key).expect("signer");
        group.bench_function(name, |b| b.iter(|| signer.sign(black_box(&raw))));
    }
    #[cfg(feature = "lettre-dkim-bench")]
    lettre_dkim::bench(&mut group, &msg);
    group.finish();

    let key = DkimKey::generate(DkimAlgorithm::Rsa2048, "shop.example", "b1").expect("key");
    let signer = DkimSigner::new(&key).expect("signer");
    let mut group = c.benchmark_group("build_and_sign");
    group.throughput(Throughput::Elements(1));
    group.bench_function("20KB, rsa2048", |b| {
        b.iter(|| signer.sign(&build_message(black_box(&msg)).expect("builds")))
    });
    group.finish();
}

#[cfg(feature = "lettre-dkim-bench")]
mod lettre_dkim {
    use base64::Engine as _;
    use criterion::BatchSize;
    use criterion::measurement::WallTime;
    use lettre::message::dkim::{
        DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
        DkimSigningKey,
    };
    use lettre::message::header::HeaderName;
    use lettre::message::{Mailbox, MultiPart};

    use super::*;

    /// lettre signs its own `Message`, so the same email is built with lettre's builder here.
    pub fn bench(group: &mut criterion::BenchmarkGroup<'_, WallTime>, msg: &OutgoingMessage) {
        let key = DkimKey::generate(DkimAlgorithm::Rsa2048, "shop.example", "b1").expect("key");
        let pem = pkcs1_pem(&key.private_key_for_storage());
        let signing_key = DkimSigningKey::new(&pem, DkimSigningAlgorithm::Rsa).expect("lettre key");
        let headers = [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
        ]
        .map(HeaderName::new_from_ascii_str)
        .to_vec();
        let config = DkimConfig::new(
            "b1".into(),
            "shop.example".into(),
            signing_key,
            headers,
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        let mailbox = |m: &vestnik_mail::Mailbox| {
            Mailbox::new(m.name.clone(), m.email.parse().expect("address"))
        };
        let message = lettre::Message::builder()
            .from(mailbox(&msg.from))
            .to(mailbox(&msg.to))
            .subject(msg.subject.clone())
            .message_id(Some(format!("<{}>", msg.message_id)))
            .multipart(MultiPart::alternative_plain_html(
                msg.text.clone(),
                msg.html.clone(),
            ))
            .expect("lettre message");
        group.bench_function("lettre dkim rsa2048 (pure-Rust rsa)", |b| {
            b.iter_batched(
                || message.clone(),
                |mut m| {
                    m.sign(&config);
                    m
                },
                BatchSize::SmallInput,
            )
        });
    }

    /// lettre reads only PKCS#1 PEM; a PKCS#8 RSA key wraps the PKCS#1 one in an OCTET STRING.
    fn pkcs1_pem(pkcs8_pem: &str) -> String {
        let body: String = pkcs8_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64");
        let (_, seq) = der_item(&der); // PrivateKeyInfo
        let (rest, _version) = der_item(seq);
        let (rest, _alg) = split_item(rest);
        let (_, pkcs1) = der_item(rest);
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs1);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect();
        format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----\n",
            lines.join("\n")
        )
    }

    /// (bytes after the item, the item's contents)
    fn der_item(input: &[u8]) -> (&[u8], &[u8]) {
        let (len, header) = match input[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (input[2] as usize, 3),
            0x82 => (((input[2] as usize) << 8) | input[3] as usize, 4),
            other => panic!("unexpected DER length byte {other:#x}"),
        };
        (&input[header + len..], &input[header..header + len])
    }

    /// (bytes after the item, the whole item)
    fn split_item(input: &[u8]) -> (&[u8], &[u8]) {
        let (rest, _) = der_item(input);
        (rest, &input[..input.len() - rest.len()])
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
