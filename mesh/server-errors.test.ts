/** The sentences a peer shows when the server refuses its join. */

import { describe, expect, it } from 'vitest';
import { describeServerError } from './server-errors';

describe('describeServerError', () => {
  it('tells the user to ask for a token when the token is refused or missing', () => {
    for (const code of ['bad-token', 'token-required']) {
      expect(describeServerError(code, 'no such token')).toBe(
        "the server refused the join token: no such token. Ask the room's operator for a valid token.",
      );
    }
  });

  it('suggests another room when the room is full', () => {
    expect(describeServerError('room-full', 'room lab is full')).toBe(
      'room lab is full. Try another room or wait for a peer to leave.',
    );
  });

  it('names refused room settings', () => {
    expect(describeServerError('config-invalid', 'lr: too large')).toBe(
      'the room settings were refused: lr: too large',
    );
  });

  it("passes any other code's message through", () => {
    expect(describeServerError('rate-limited', 'slow down')).toBe('slow down');
  });
});
