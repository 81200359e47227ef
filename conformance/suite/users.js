// client.users: create, get, search / searchAll, update, delete,
// deleteEmail, deletePhoneNumber (types/lib/b2c/users.d.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as T from '../lib/shapes.js';
import { email, expectError, ids, ok, phone } from '../lib/check.js';

export default function users(ctx) {
  describe('users', () => {
    it('create returns UsersCreateResponse with the user inside', async () => {
      const addr = email('create');
      const tel = phone();
      const res = ok(await ctx.client.users.create({
        email: addr,
        phone_number: tel,
        name: { first_name: 'Ada', last_name: 'Lovelace' },
        trusted_metadata: { plan: 'pro', seats: 3 },
        untrusted_metadata: { theme: 'dark' },
        external_id: `ext-${Date.now()}`,
        attributes: { ip_address: '203.0.113.7', user_agent: 'conformance' },
      }), T.UsersCreateResponse, 'users.create');
      assert.match(res.user_id, ids.user);
      assert.match(res.email_id, ids.email);
      assert.match(res.phone_id, ids.phone);
      assert.equal(res.status, 'active');
      assert.equal(res.user.user_id, res.user_id);
      assert.deepEqual(res.user.emails, [{ email_id: res.email_id, email: addr, verified: false }]);
      assert.deepEqual(res.user.phone_numbers, [{ phone_id: res.phone_id, phone_number: tel, verified: false }]);
      assert.equal(res.user.name.first_name, 'Ada');
      assert.deepEqual(res.user.trusted_metadata, { plan: 'pro', seats: 3 });
    });

    it('create with only an email leaves phone_id "" (every field present)', async () => {
      const res = ok(await ctx.client.users.create({ email: email('only') }), T.UsersCreateResponse, 'users.create');
      assert.equal(res.phone_id, '');
      assert.deepEqual(res.user.phone_numbers, []);
    });

    it('create_user_as_pending makes a pending user', async () => {
      const res = ok(await ctx.client.users.create({ email: email('pending'), create_user_as_pending: true }), T.UsersCreateResponse, 'users.create');
      assert.equal(res.status, 'pending');
      assert.equal(res.user.status, 'pending');
    });

    it('get returns the user flattened (UsersGetResponse), by user_id and by external_id', async () => {
      const ext = `get.${Date.now()}|acme_id-1`; // every character external_id allows
      const made = await ctx.client.users.create({ email: email('get'), external_id: ext, name: { first_name: 'Grace' } });
      const res = ok(await ctx.client.users.get({ user_id: made.user_id }), T.UsersGetResponse, 'users.get');
      assert.equal(res.user_id, made.user_id);
      assert.equal(res.user, undefined, 'get has no user wrapper');
      assert.deepEqual(res.emails, made.user.emails);
      assert.equal(res.external_id, ext);
      const byExt = ok(await ctx.client.users.get({ user_id: ext }), T.UsersGetResponse, 'users.get by external_id');
      assert.equal(byExt.user_id, made.user_id);
    });

    it('update merges metadata at the top level and returns UsersUpdateResponse', async () => {
      const made = await ctx.client.users.create({
        email: email('update'),
        trusted_metadata: { keep: 1, drop: 2, nested: { a: 1 } },
      });
      const res = ok(await ctx.client.users.update({
        user_id: made.user_id,
        name: { first_name: 'Katherine', last_name: 'Johnson' },
        trusted_metadata: { drop: null, nested: { b: 2 }, added: true },
        untrusted_metadata: { locale: 'fr' },
        external_id: `upd-${Date.now()}`,
      }), T.UsersUpdateResponse, 'users.update');
      assert.equal(res.user_id, made.user_id);
      assert.deepEqual(res.emails, made.user.emails);
      assert.deepEqual(res.crypto_wallets, []);
      assert.equal(res.user.name.first_name, 'Katherine');
      // A new value replaces the key, null deletes it, nested values are replaced whole.
      assert.deepEqual(res.user.trusted_metadata, { keep: 1, nested: { b: 2 }, added: true });
      assert.deepEqual(res.user.untrusted_metadata, { locale: 'fr' });
    });

    it('search pages with next_cursor, and searchAll walks every page', async () => {
      const emails = [];
      for (let i = 0; i < 5; i++) {
        const addr = email('search');
        emails.push(addr);
        await ctx.client.users.create({ email: addr, name: { first_name: 'Searchable' } });
      }
      const query = { operator: 'AND', operands: [{ filter_name: 'email_address', filter_value: emails }] };
      const first = ok(await ctx.client.users.search({ limit: 2, query }), T.UsersSearchResponse, 'users.search');
      assert.equal(first.results.length, 2);
      assert.equal(first.results_metadata.total, 5);
      assert.equal(typeof first.results_metadata.next_cursor, 'string');

      const pages = [];
      for await (const page of ctx.client.users.searchAll({ limit: 2, query })) {
        for (const u of page) T.assertShape(u, T.User, 'searchAll result');
        pages.push(page);
      }
      assert.deepEqual(pages.map((p) => p.length), [2, 2, 1]);
      const found = pages.flat().map((u) => u.emails[0].email).sort();
      assert.deepEqual(found, [...emails].sort());

      // The last page ends the sequence with next_cursor null.
      let res = first;
      while (res.results_metadata.next_cursor) {
        res = ok(await ctx.client.users.search({ limit: 2, query, cursor: res.results_metadata.next_cursor }), T.UsersSearchResponse, 'users.search page');
      }
      assert.equal(res.results_metadata.next_cursor, null);
    });

    it('search with an empty query returns every user of the project only', async () => {
      const other = await ctx.clientB.users.create({ email: email('tenant-b') });
      const res = ok(await ctx.client.users.search({ limit: 1000 }), T.UsersSearchResponse, 'users.search');
      assert.ok(res.results.length >= 5);
      assert.equal(res.results_metadata.total, res.results.length);
      assert.ok(!res.results.some((u) => u.user_id === other.user_id), 'another project\'s user leaked');
    });

    it('search filters by status, verification and fuzzy name', async () => {
      const addr = email('fuzzy');
      const made = await ctx.client.users.create({ email: addr, name: { first_name: 'Zebulon', last_name: 'Quixote' }, create_user_as_pending: true });
      const res = ok(await ctx.client.users.search({
        query: {
          operator: 'AND',
          operands: [
            { filter_name: 'full_name_fuzzy', filter_value: 'Zebulon Quix' },
            { filter_name: 'status', filter_value: 'pending' },
            { filter_name: 'email_verified', filter_value: false },
          ],
        },
      }), T.UsersSearchResponse, 'users.search');
      assert.deepEqual(res.results.map((u) => u.user_id), [made.user_id]);
    });

    it('deleteEmail and deletePhoneNumber return the user without them', async () => {
      const made = await ctx.client.users.create({ email: email('del'), phone_number: phone() });
      const e = ok(await ctx.client.users.deleteEmail({ email_id: made.email_id }), T.UsersDeleteEmailResponse, 'users.deleteEmail');
      assert.equal(e.user_id, made.user_id);
      assert.deepEqual(e.user.emails, []);
      assert.equal(e.user.phone_numbers.length, 1);
      const p = ok(await ctx.client.users.deletePhoneNumber({ phone_id: made.phone_id }), T.UsersDeletePhoneNumberResponse, 'users.deletePhoneNumber');
      assert.equal(p.user_id, made.user_id);
      assert.deepEqual(p.user.phone_numbers, []);
      // The freed address can be used again.
      ok(await ctx.client.users.create({ email: made.user.emails[0].email }), T.UsersCreateResponse, 'users.create reusing a deleted email');
    });

    it('delete returns UsersDeleteResponse; the user is then not found', async () => {
      const made = await ctx.client.users.create({ email: email('gone') });
      const res = ok(await ctx.client.users.delete({ user_id: made.user_id }), T.UsersDeleteResponse, 'users.delete');
      assert.equal(res.user_id, made.user_id);
      await expectError(ctx.client.users.get({ user_id: made.user_id }), 404, 'user_not_found', ctx.latch);
    });

    describe('errors', () => {
      it('unknown user: get, update, delete → 404 user_not_found', async () => {
        const user_id = 'user-test-00000000-0000-4000-8000-000000000000';
        await expectError(ctx.client.users.get({ user_id }), 404, 'user_not_found', ctx.latch);
        await expectError(ctx.client.users.update({ user_id, name: { first_name: 'x' } }), 404, 'user_not_found', ctx.latch);
        await expectError(ctx.client.users.delete({ user_id }), 404, 'user_not_found', ctx.latch);
      });

      it('another project\'s user is not found', async () => {
        const other = await ctx.clientB.users.create({ email: email('other') });
        await expectError(ctx.client.users.get({ user_id: other.user_id }), 404, 'user_not_found', ctx.latch);
        await expectError(ctx.client.users.deleteEmail({ email_id: other.email_id }), 404, 'email_not_found', ctx.latch);
      });

      it('unknown email or phone id → 404 email_not_found / phone_number_not_found', async () => {
        await expectError(ctx.client.users.deleteEmail({ email_id: 'email-test-00000000-0000-4000-8000-000000000000' }), 404, 'email_not_found', ctx.latch);
        await expectError(ctx.client.users.deletePhoneNumber({ phone_id: 'phone-number-test-00000000-0000-4000-8000-000000000000' }), 404, 'phone_number_not_found', ctx.latch);
      });

      it('create: invalid email or phone, duplicates, metadata limits', async () => {
        await expectError(ctx.client.users.create({ email: 'not-an-email' }), 400, 'invalid_email', ctx.latch);
        await expectError(ctx.client.users.create({ phone_number: '555-0100' }), 400, 'invalid_phone_number', ctx.latch);
        const addr = email('dup');
        const tel = phone();
        const ext = `dup-${Date.now()}`;
        await ctx.client.users.create({ email: addr, phone_number: tel, external_id: ext });
        await expectError(ctx.client.users.create({ email: addr }), 400, 'duplicate_email', ctx.latch);
        await expectError(ctx.client.users.create({ phone_number: tel }), 400, 'duplicate_phone_number', ctx.latch);
        await expectError(ctx.client.users.create({ email: email('dup2'), external_id: ext }), 400, 'duplicate_user_external_id', ctx.latch);
        const many = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, i]));
        await expectError(ctx.client.users.create({ email: email('meta'), trusted_metadata: many }), 400, 'metadata_too_many_keys', ctx.latch);
        await expectError(ctx.client.users.create({ email: email('meta'), untrusted_metadata: { big: 'x'.repeat(5000) } }), 400, 'metadata_too_large', ctx.latch);
      });

      it('update: an external_id in use → 400 duplicate_user_external_id', async () => {
        const ext = `taken-${Date.now()}`;
        await ctx.client.users.create({ email: email('ext1'), external_id: ext });
        const b = await ctx.client.users.create({ email: email('ext2') });
        await expectError(ctx.client.users.update({ user_id: b.user_id, external_id: ext }), 400, 'duplicate_user_external_id', ctx.latch);
      });

      it('search: bad limit, operator, filter, value, cursor', async () => {
        const s = (data) => ctx.client.users.search(data);
        await expectError(s({ limit: 5000 }), 400, 'user_search_invalid_limit', ctx.latch);
        await expectError(s({ query: { operator: 'XOR', operands: [] } }), 400, 'user_search_invalid_operator', ctx.latch);
        await expectError(s({ query: { operator: 'AND', operands: [{ filter_name: 'shoe_size', filter_value: 9 }] } }), 400, 'user_search_filter_name_not_recognized', ctx.latch);
        await expectError(s({ query: { operator: 'AND', operands: [{ filter_name: 'user_id' }] } }), 400, 'user_search_missing_filter_value', ctx.latch);
        await expectError(s({ query: { operator: 'AND', operands: [{ filter_name: 'user_id', filter_value: 'one' }] } }), 400, 'user_search_expected_array_of_string', ctx.latch);
        await expectError(s({ query: { operator: 'AND', operands: [{ filter_name: 'email_verified', filter_value: 'yes' }] } }), 400, 'user_search_expected_bool', ctx.latch);
        await expectError(s({ query: { operator: 'AND', operands: [{ filter_name: 'created_at_greater_than', filter_value: 'yesterday' }] } }), 400, 'user_search_expected_timestamp', ctx.latch);
        await expectError(s({ cursor: 'not-a-cursor' }), 400, 'user_search_invalid_cursor', ctx.latch);
      });
    });
  });
}
