import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHROMIUM, SAMPLE_MAILS, SAMPLE_PAGES, SCREENSHOTS_DIR, VIEWPORTS, takeScreenshots } from '../../scripts/screenshots';

/**
 * Issue #15: the screenshots in docs/screenshots/ are remade on every run from the pages the
 * service serves, so they never drift from the code. Needs /usr/bin/chromium and a Devanagari
 * font (fonts-lohit-deva-nepali, installed by .ci/run); without them this file fails, on purpose:
 * a Nepali page photographed without the font shows boxes.
 */

/** Width and height from a PNG's IHDR chunk. */
function pngSize(file: string): { width: number; height: number } {
  const head = Buffer.alloc(24);
  const fd = fs.openSync(file, 'r');
  fs.readSync(fd, head, 0, 24, 0);
  fs.closeSync(fd);
  expect(head.subarray(0, 8).toString('hex'), file).toBe('89504e470d0a1a0a');
  return { width: head.readUInt32BE(16), height: head.readUInt32BE(20) };
}

describe('docs/screenshots', () => {
  it('every page in en and ne at desktop and phone size, and every mail at phone size, remade from the served HTML', { timeout: 180_000 }, async () => {
    expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`).toBe(true);
    const fonts = execFileSync('fc-list', [':lang=ne', 'family'], { encoding: 'utf8' }).trim();
    expect(fonts, 'no Devanagari font (apt-get install -y fonts-lohit-deva-nepali)').not.toBe('');

    const shots = await takeScreenshots();
    const languages = ['en', 'ne'];
    expect(shots).toHaveLength(languages.length * (SAMPLE_PAGES.length * 2 + SAMPLE_MAILS.length));
    const onDisk = fs.readdirSync(SCREENSHOTS_DIR).filter((f) => f.endsWith('.png')).sort();
    expect(onDisk).toEqual(shots.map((s) => s.file).sort()); // nothing stale left behind

    let bytes = 0;
    for (const shot of shots) {
      const file = path.join(SCREENSHOTS_DIR, shot.file);
      expect(pngSize(file), shot.file).toEqual(VIEWPORTS[shot.viewport]);
      bytes += fs.statSync(file).size;
    }
    expect(bytes).toBeLessThan(6 * 1024 * 1024); // modest: the repository carries them

    // The Nepali pages were photographed with Nepali titles, and differ from the English ones.
    const title = (name: string, lng: string) => shots.find((s) => s.name === name && s.lng === lng && s.viewport === 'desktop')!.title;
    expect(title('confirm-old-address', 'en')).toBe('Confirm the change of your account email');
    expect(title('confirm-old-address', 'ne')).toBe('आफ्नो खाताको इमेल परिवर्तन पुष्टि गर्नुहोस्');
    const desktop = (name: string, lng: string) => fs.readFileSync(path.join(SCREENSHOTS_DIR, `${name}.${lng}.desktop.png`));
    expect(desktop('confirm-old-address', 'ne').equals(desktop('confirm-old-address', 'en'))).toBe(false);

    const index = fs.readFileSync(path.join(SCREENSHOTS_DIR, 'README.md'), 'utf8');
    for (const shot of shots) expect(index).toContain(`src="${shot.file}"`);
  });
});
