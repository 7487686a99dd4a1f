"""The Discord side: the bot, delivery of results and the error handler."""
