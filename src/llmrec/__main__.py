from llmrec.cli import app

app(prog_name="llmrec")
