import 'reflect-metadata';
import { buildBareSchema } from '../../../schema/build';
import { privacyRegistry } from '../../../privacy/registry';
import { csvField, csvText, escapeHtml, EXPORT_JSON, FIELD_LOCATIONS, fieldIndex, HISTORY_COLUMNS } from './build';
import { HISTORY_FILE } from './package';

describe('the export\'s contents', () => {
  it('has a place for every classified field of the API, and none for a field that no longer exists', async () => {
    const registry = privacyRegistry(await buildBareSchema());
    const { entries, missing } = fieldIndex(registry);
    expect(missing).toEqual([]);
    expect(entries.map((e) => e.coordinate)).toEqual(registry.personalFields().map((f) => f.coordinate).sort((a, b) => a.localeCompare(b)));
    const known = new Set(registry.personalFields().map((f) => f.coordinate));
    expect(Object.keys(FIELD_LOCATIONS).filter((c) => !known.has(c))).toEqual([]);
    for (const locations of Object.values(FIELD_LOCATIONS)) {
      for (const l of locations) {
        if (l.file === HISTORY_FILE) expect(HISTORY_COLUMNS(true)).toContain(l.at);
        else expect(l).toEqual({ file: EXPORT_JSON, at: expect.stringMatching(/^[a-zA-Z0-9]+(\[\])?(\.[a-zA-Z0-9]+(\[\])?)*$/) });
      }
    }
  });

  it('writes RFC 4180 fields, and defuses what a spreadsheet would run as a formula', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"\r\nbye')).toBe('"say ""hi""\r\nbye"');
    expect(csvField(null)).toBe('');
    expect(csvText('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvText('@SUM(A1)')).toBe('\'@SUM(A1)');
    expect(csvText('Ann Lee')).toBe('Ann Lee');
  });

  it('escapes everything it puts into index.html', () => {
    expect(escapeHtml('<script>alert("x")</script> & \'y\'')).toBe('&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;y&#39;');
    expect(escapeHtml(null)).toBe('');
  });
});
