// The response types of stytch@14.2.0, transcribed from
// node_modules/stytch/types/lib/b2c/*.d.ts, and a checker for them.
//
// A schema is an object of field → spec. A spec is 'string', 'integer',
// 'number', 'boolean', 'record' (any plain object), 'timestamp' (a string in
// RFC 3339 UTC, which every SDK doc comment promises), arrayOf(spec), a
// nested schema, or optional(spec). Fields without optional() are the ones
// the .d.ts declares without `?`: they must be present, non-null and of the
// type. An optional field may be absent or null (Stytch itself sends null
// for an unset external_id, lock_* or password), and must match when set.
// Fields not in the schema are allowed, as TypeScript allows them.
import assert from 'node:assert/strict';

const OPTIONAL = Symbol('optional');
const ARRAY = Symbol('array');

export const optional = (spec) => ({ [OPTIONAL]: spec });
export const arrayOf = (spec) => ({ [ARRAY]: spec });

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

function check(value, spec, path, problems) {
  if (spec && typeof spec === 'object' && OPTIONAL in spec) {
    if (value === undefined || value === null) return;
    return check(value, spec[OPTIONAL], path, problems);
  }
  if (value === undefined) return problems.push(`${path}: missing`);
  if (value === null) return problems.push(`${path}: null, want ${describe(spec)}`);
  if (spec && typeof spec === 'object' && ARRAY in spec) {
    if (!Array.isArray(value)) return problems.push(`${path}: ${kind(value)}, want array`);
    value.forEach((v, i) => check(v, spec[ARRAY], `${path}[${i}]`, problems));
    return;
  }
  if (typeof spec === 'object') {
    if (kind(value) !== 'object') return problems.push(`${path}: ${kind(value)}, want object`);
    for (const [k, s] of Object.entries(spec)) check(value[k], s, path ? `${path}.${k}` : k, problems);
    return;
  }
  switch (spec) {
    case 'string':
    case 'number':
    case 'boolean':
      if (typeof value !== spec) problems.push(`${path}: ${kind(value)} ${JSON.stringify(value)}, want ${spec}`);
      return;
    case 'integer':
      if (!Number.isInteger(value)) problems.push(`${path}: ${JSON.stringify(value)}, want integer`);
      return;
    case 'record':
      if (kind(value) !== 'object') problems.push(`${path}: ${kind(value)}, want object`);
      return;
    case 'timestamp':
      if (typeof value !== 'string' || !RFC3339_UTC.test(value)) problems.push(`${path}: ${JSON.stringify(value)}, want RFC 3339 UTC`);
      return;
  }
  throw new Error(`bad spec at ${path}: ${String(spec)}`);
}

function kind(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function describe(spec) {
  if (typeof spec === 'string') return spec;
  if (ARRAY in spec) return 'array';
  return 'object';
}

/** Asserts that value has the shape of schema; lists every mismatch. */
export function assertShape(value, schema, name = 'response') {
  const problems = [];
  check(value, schema, '', problems);
  if (problems.length) {
    assert.fail(`${name} does not match the SDK type:\n  ${problems.join('\n  ')}\n${JSON.stringify(value, null, 2)}`);
  }
}

// ---- types/lib/b2c/users.d.ts ----

const UsersEmail = { email_id: 'string', email: 'string', verified: 'boolean' };
const UsersPhoneNumber = { phone_id: 'string', phone_number: 'string', verified: 'boolean' };
const UsersName = { first_name: optional('string'), middle_name: optional('string'), last_name: optional('string') };
const WebAuthnRegistration = {
  webauthn_registration_id: 'string', domain: 'string', user_agent: 'string', verified: 'boolean',
  authenticator_type: 'string', name: 'string',
};
const OAuthProvider = {
  provider_type: 'string', provider_subject: 'string', profile_picture_url: 'string', locale: 'string',
  oauth_user_registration_id: 'string',
};
const TOTP = { totp_id: 'string', verified: 'boolean' };
const CryptoWallet = { crypto_wallet_id: 'string', crypto_wallet_address: 'string', crypto_wallet_type: 'string', verified: 'boolean' };
const BiometricRegistration = { biometric_registration_id: 'string', verified: 'boolean' };
const Password = { password_id: 'string', requires_reset: 'boolean' };

const userFields = {
  user_id: 'string',
  emails: arrayOf(UsersEmail),
  status: 'string',
  phone_numbers: arrayOf(UsersPhoneNumber),
  webauthn_registrations: arrayOf(WebAuthnRegistration),
  providers: arrayOf(OAuthProvider),
  totps: arrayOf(TOTP),
  crypto_wallets: arrayOf(CryptoWallet),
  biometric_registrations: arrayOf(BiometricRegistration),
  is_locked: 'boolean',
  roles: arrayOf('string'),
  name: optional(UsersName),
  created_at: optional('timestamp'),
  password: optional(Password),
  trusted_metadata: optional('record'),
  untrusted_metadata: optional('record'),
  external_id: optional('string'),
  lock_created_at: optional('timestamp'),
  lock_expires_at: optional('timestamp'),
};
export const User = userFields;

const envelope = { request_id: 'string', status_code: 'integer' };

export const UsersCreateResponse = { ...envelope, user_id: 'string', email_id: 'string', status: 'string', phone_id: 'string', user: User };
export const UsersGetResponse = { ...envelope, ...userFields };
export const UsersResultsMetadata = { total: 'integer', next_cursor: optional('string') };
export const UsersSearchResponse = { ...envelope, results: arrayOf(User), results_metadata: UsersResultsMetadata };
export const UsersUpdateResponse = {
  ...envelope, user_id: 'string', emails: arrayOf(UsersEmail), phone_numbers: arrayOf(UsersPhoneNumber),
  crypto_wallets: arrayOf(CryptoWallet), user: User,
};
export const UsersDeleteResponse = { ...envelope, user_id: 'string' };
export const UsersDeleteEmailResponse = { ...envelope, user_id: 'string', user: User };
export const UsersDeletePhoneNumberResponse = { ...envelope, user_id: 'string', user: User };

// ---- types/lib/b2c/sessions.d.ts, attribute.d.ts ----

const Attributes = { ip_address: optional('string'), user_agent: optional('string') };
export const AuthenticationFactor = {
  type: 'string',
  delivery_method: 'string',
  last_authenticated_at: optional('timestamp'),
  created_at: optional('timestamp'),
  updated_at: optional('timestamp'),
  email_factor: optional({ email_id: 'string', email_address: 'string' }),
  phone_number_factor: optional({ phone_id: 'string', phone_number: 'string' }),
  embeddable_magic_link_factor: optional({ embedded_id: 'string' }),
  authenticator_app_factor: optional({ totp_id: 'string' }),
  recovery_code_factor: optional({ totp_recovery_code_id: 'string' }),
};
export const Session = {
  session_id: 'string',
  user_id: 'string',
  authentication_factors: arrayOf(AuthenticationFactor),
  roles: arrayOf('string'),
  started_at: optional('timestamp'),
  last_accessed_at: optional('timestamp'),
  expires_at: optional('timestamp'),
  attributes: optional(Attributes),
  custom_claims: optional('record'),
};
export const JWK = {
  kty: 'string', use: 'string', key_ops: arrayOf('string'), alg: 'string', kid: 'string',
  x5c: arrayOf('string'), x5tS256: 'string', n: 'string', e: 'string',
};
export const SessionsGetResponse = { ...envelope, sessions: arrayOf(Session) };
export const SessionsAuthenticateResponse = {
  ...envelope, session: Session, session_token: 'string', session_jwt: 'string', user: User,
  verdict: optional({ authorized: 'boolean', granting_roles: arrayOf('string') }),
};
export const SessionsRevokeResponse = { ...envelope };
export const SessionsGetJWKSResponse = { ...envelope, keys: arrayOf(JWK) };

// The session authenticateJwtLocal returns (dist/b2c/sessions.js builds it
// from the JWT; the .d.ts declares it as Session).
export const LocalSession = Session;

// ---- types/lib/b2c/magic_links.d.ts, magic_links_email.d.ts ----

const loginResponse = {
  ...envelope, user_id: 'string', method_id: 'string', session_token: 'string', session_jwt: 'string',
  user: User, reset_sessions: 'boolean', session: optional(Session), user_device: optional('record'),
};
export const MagicLinksAuthenticateResponse = loginResponse;
export const MagicLinksCreateResponse = { ...envelope, user_id: 'string', token: 'string' };
export const MagicLinksEmailLoginOrCreateResponse = { ...envelope, user_id: 'string', email_id: 'string', user_created: 'boolean' };
export const MagicLinksEmailSendResponse = { ...envelope, user_id: 'string', email_id: 'string' };
export const MagicLinksEmailInviteResponse = { ...envelope, user_id: 'string', email_id: 'string' };
export const MagicLinksEmailRevokeInviteResponse = { ...envelope };

// ---- types/lib/b2c/otps*.d.ts ----

export const OTPsAuthenticateResponse = loginResponse;
export const OTPsSmsSendResponse = { ...envelope, user_id: 'string', phone_id: 'string' };
export const OTPsSmsLoginOrCreateResponse = { ...envelope, user_id: 'string', phone_id: 'string', user_created: 'boolean' };
export const OTPsWhatsAppSendResponse = OTPsSmsSendResponse;
export const OTPsWhatsAppLoginOrCreateResponse = OTPsSmsLoginOrCreateResponse;
export const OTPsEmailSendResponse = { ...envelope, user_id: 'string', email_id: 'string' };
export const OTPsEmailLoginOrCreateResponse = { ...envelope, user_id: 'string', email_id: 'string', user_created: 'boolean' };

// ---- types/lib/b2c/totps.d.ts, users.d.ts (deleteTOTP) ----

export const TOTPsCreateResponse = {
  ...envelope, totp_id: 'string', secret: 'string', qr_code: 'string', recovery_codes: arrayOf('string'), user: User, user_id: 'string',
};
const totpLoginResponse = {
  ...envelope, user_id: 'string', session_token: 'string', totp_id: 'string', session_jwt: 'string', user: User,
  session: optional(Session), user_device: optional('record'),
};
export const TOTPsAuthenticateResponse = totpLoginResponse;
export const TOTPsRecoverResponse = totpLoginResponse;
export const TOTPsRecoveryCodesResponse = {
  ...envelope, user_id: 'string', totps: arrayOf({ totp_id: 'string', verified: 'boolean', recovery_codes: arrayOf('string') }),
};
export const UsersDeleteTOTPResponse = { ...envelope, user_id: 'string', user: User };
// ---- types/lib/b2c/passwords*.d.ts ----

const passwordLogin = {
  ...envelope, user_id: 'string', session_token: 'string', session_jwt: 'string', user: User,
  session: optional(Session), user_device: optional('record'),
};
export const PasswordsCreateResponse = { ...passwordLogin, email_id: 'string' };
export const PasswordsAuthenticateResponse = passwordLogin;
export const PasswordsEmailResetResponse = passwordLogin;
export const PasswordsExistingPasswordResetResponse = passwordLogin;
export const PasswordsSessionResetResponse = passwordLogin;
export const PasswordsEmailResetStartResponse = { ...envelope, user_id: 'string', email_id: 'string' };
export const PasswordsMigrateResponse = { ...envelope, user_id: 'string', email_id: 'string', user_created: 'boolean', user: User };
const LUDSRequirements = {
  has_lower_case: 'boolean', has_upper_case: 'boolean', has_digit: 'boolean', has_symbol: 'boolean',
  missing_complexity: 'integer', missing_characters: 'integer',
};
export const PasswordsStrengthCheckResponse = {
  ...envelope, valid_password: 'boolean', score: 'integer', breached_password: 'boolean', strength_policy: 'string',
  breach_detection_on_create: 'boolean',
  feedback: optional({ warning: 'string', suggestions: arrayOf('string'), luds_requirements: optional(LUDSRequirements) }),
};
export const UsersDeletePasswordResponse = { ...envelope, user_id: 'string', user: User };
