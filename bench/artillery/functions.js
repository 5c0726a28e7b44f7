// Helpers for chat.yml: the conversation to talk in, and a fresh
// client_msg_id (a UUID, as the protocol requires) for every send.
const { randomUUID } = require('node:crypto');

function identify(context, events, done) {
  context.vars.conversation = process.env.PGCHAT_CONVERSATION;
  return done();
}

function newMessageId(context, events, done) {
  context.vars.messageId = randomUUID();
  return done();
}

module.exports = { identify, newMessageId };
