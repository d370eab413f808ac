from articlechat.cli import app

app(prog_name="articlechat")
