//! DKIM signatures we make verify against the DNS record we tell the admin to publish, with both
//! algorithms, and stop verifying when the message is changed.

mod common;

use common::*;
use vestnik_mail::{DkimAlgorithm, DkimKey, DkimSigner, MailError, build_message, verify_dkim};

fn signed(alg: DkimAlgorithm) -> (DkimKey, Vec<u8>) {
    let key = DkimKey::generate(alg, "shop.example", "v1").unwrap();
    let raw = build_message(&sample(5, 20_000)).unwrap();
    let signed = DkimSigner::new(&key).unwrap().sign(&raw).unwrap();
    (key, signed)
}

fn signature_header(signed: &[u8]) -> String {
    let text = String::from_utf8_lossy(signed);
    let end = text.find("\r\n").unwrap();
    let mut header = text[..end].to_owned();
    for line in text[end + 2..].split("\r\n") {
        if !line.starts_with([' ', '\t']) {
            break;
        }
        header.push_str(line.trim());
    }
    header
}

#[tokio::test]
async fn rsa_and_ed25519_signatures_verify_against_the_published_record() {
    for alg in [DkimAlgorithm::Rsa2048, DkimAlgorithm::Ed25519] {
        let (key, signed) = signed(alg);
        assert!(signed.starts_with(b"DKIM-Signature: v=1; a="), "{alg:?}");
        let (name, value) = key.dns_record();
        verify_dkim(&signed, &name, &value)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
}

#[tokio::test]
async fn a_key_restored_from_storage_signs_verifiably() {
    let key = DkimKey::generate(DkimAlgorithm::Rsa2048, "shop.example", "v1").unwrap();
    let restored = DkimKey::from_stored(
        DkimAlgorithm::Rsa2048,
        "shop.example",
        "v1",
        &key.private_key_for_storage(),
    )
    .unwrap();
    let raw = build_message(&sample(6, 2_000)).unwrap();
    let signed = DkimSigner::new(&restored).unwrap().sign(&raw).unwrap();
    let (name, value) = key.dns_record();
    verify_dkim(&signed, &name, &value).await.unwrap();
}

#[test]
fn signature_is_relaxed_and_covers_the_list_headers() {
    let (_, signed) = signed(DkimAlgorithm::Ed25519);
    let header = signature_header(&signed);
    assert!(header.contains("a=ed25519-sha256"), "{header}");
    assert!(header.contains("c=relaxed/relaxed"), "{header}");
    assert!(header.contains("d=shop.example"), "{header}");
    assert!(header.contains("s=v1"), "{header}");
    let h = header
        .split(';')
        .map(str::trim)
        .find_map(|tag| tag.strip_prefix("h="))
        .unwrap()
        .to_ascii_lowercase();
    let signed_names: Vec<&str> = h.split(':').collect();
    for name in [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
        "reply-to",
        "list-unsubscribe",
        "list-unsubscribe-post",
        "feedback-id",
    ] {
        assert!(signed_names.contains(&name), "{name} not in h={h}");
    }
}

#[tokio::test]
async fn a_changed_body_or_subject_fails_verification() {
    for alg in [DkimAlgorithm::Rsa2048, DkimAlgorithm::Ed25519] {
        let (key, signed) = signed(alg);
        let (name, value) = key.dns_record();
        let text = String::from_utf8(signed).unwrap();

        // A relay appending a footer.
        let body_changed = format!("{text}appended footer\r\n");
        assert!(
            matches!(
                verify_dkim(body_changed.as_bytes(), &name, &value).await,
                Err(MailError::DkimVerify { .. })
            ),
            "{alg:?}: a changed body still verified"
        );

        let subject_changed = text.replacen("\r\nSubject: ", "\r\nSubject: RE: ", 1);
        assert_ne!(subject_changed, text);
        assert!(
            verify_dkim(subject_changed.as_bytes(), &name, &value)
                .await
                .is_err(),
            "{alg:?}: a changed subject still verified"
        );
    }
}

#[tokio::test]
async fn another_keys_record_does_not_verify() {
    let (_, signed) = signed(DkimAlgorithm::Ed25519);
    let other = DkimKey::generate(DkimAlgorithm::Ed25519, "shop.example", "v1").unwrap();
    let (name, value) = other.dns_record();
    let err = verify_dkim(&signed, &name, &value).await.unwrap_err();
    assert!(matches!(err, MailError::DkimVerify { .. }), "{err}");
}
