//! A YML feed of any number of offers, produced piece by piece as it is read, so a test can
//! parse a huge feed without the feed ever existing in memory as a whole.

use std::io::{self, Read};

/// Offers like a real clothing shop's: two pictures, two params, a CDATA description.
pub struct GeneratedFeed {
    offers: usize,
    written: usize,
    chunk: Vec<u8>,
    pos: usize,
    footer_done: bool,
}

pub const GENERATED_CATEGORIES: usize = 3;

impl GeneratedFeed {
    pub fn new(offers: usize) -> Self {
        let header = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
            <yml_catalog date=\"2026-11-20 10:00\">\n<shop>\n<name>Generated</name>\n\
            <currencies><currency id=\"RUR\" rate=\"1\"/></currencies>\n<categories>\n\
            <category id=\"1\">Одежда</category>\n\
            <category id=\"2\" parentId=\"1\">Платья</category>\n\
            <category id=\"3\" parentId=\"1\">Куртки</category>\n\
            </categories>\n<offers>\n";
        GeneratedFeed {
            offers,
            written: 0,
            chunk: header.as_bytes().to_vec(),
            pos: 0,
            footer_done: false,
        }
    }

    fn refill(&mut self) -> bool {
        self.chunk.clear();
        self.pos = 0;
        if self.written < self.offers {
            let i = self.written;
            self.written += 1;
            let text = format!(
                "<offer id=\"{i}\" available=\"{available}\" group_id=\"g{group}\">\n\
                 <url>https://shop.example/p/{i}?utm_source=feed&amp;utm_medium=email</url>\n\
                 <price>{rub}.{kop:02}</price>\n<currencyId>RUR</currencyId>\n\
                 <categoryId>{cat}</categoryId>\n\
                 <picture>https://cdn.shop.example/img/{i}-1.jpg</picture>\n\
                 <picture>https://cdn.shop.example/img/{i}-2.jpg</picture>\n\
                 <name>Платье модель {i}</name>\n<vendor>Urban&amp;Co</vendor>\n\
                 <description><![CDATA[<p>Описание товара {i}: «хлопок» & лён</p>]]></description>\n\
                 <param name=\"Цвет\">чёрный</param>\n<param name=\"Размер\" unit=\"RU\">{size}</param>\n\
                 <vendorCode>VC-{i}</vendorCode>\n</offer>\n",
                available = !i.is_multiple_of(7),
                group = i / 4,
                rub = 500 + i % 20_000,
                kop = i % 100,
                cat = 2 + i % 2,
                size = 40 + i % 12,
            );
            self.chunk.extend_from_slice(text.as_bytes());
            true
        } else if !self.footer_done {
            self.footer_done = true;
            self.chunk
                .extend_from_slice(b"</offers>\n</shop>\n</yml_catalog>\n");
            true
        } else {
            false
        }
    }
}

/// Fills the whole buffer it is given, as a file read does.
impl Read for GeneratedFeed {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < out.len() {
            if self.pos >= self.chunk.len() && !self.refill() {
                break;
            }
            let n = (self.chunk.len() - self.pos).min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
            self.pos += n;
            filled += n;
        }
        Ok(filled)
    }
}
