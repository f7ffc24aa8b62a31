// Typed errors, the same family as Kitbase's SDK (and the Python SDK's pipeline/sdk/errors.py):
//
//   KitbaseError            base class: network errors, refused calls (alias TrackhouseError)
//   ├─ TimeoutError         no answer within `timeout` ms (default 30 000)
//   └─ ApiError             the API answered with an error: .statusCode, .response (its body)
//      ├─ AuthenticationError   401: missing or unknown key
//      └─ ValidationError       400/422, or refused before sending: .field names the field
//
// Names are set explicitly so they survive minification.

export class KitbaseError extends Error {
  constructor(message) {
    super(message);
    this.name = 'KitbaseError';
  }
}

export class TimeoutError extends KitbaseError {
  constructor(message) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export class ApiError extends KitbaseError {
  constructor(message, statusCode, response) {
    super(message);
    this.name = 'ApiError';
    this.statusCode = statusCode;
    this.response = response;
  }
}

export class AuthenticationError extends ApiError {
  constructor(message, statusCode, response) {
    super(message, statusCode, response);
    this.name = 'AuthenticationError';
  }
}

export class ValidationError extends ApiError {
  constructor(message, field, statusCode, response) {
    super(message, statusCode, response);
    this.name = 'ValidationError';
    this.field = field;
  }
}

// The typed error for an error answer (the edge answers {error, message, field}).
export function errorFor(status, body) {
  const b = body && typeof body === 'object' ? body : {};
  const message = b.message || b.error || 'HTTP ' + status;
  if (status === 401) return new AuthenticationError(message, status, body);
  if (status === 400 || status === 422) return new ValidationError(message, b.field, status, body);
  return new ApiError(message, status, body);
}
