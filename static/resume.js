// After a login asked for in the middle of an action, finish that action at once.
// Without JavaScript the page shows the action's button instead.
document.querySelector("form[data-auto-submit]")?.submit();
