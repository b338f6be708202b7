"""The Gradio demo (``pneumo-demo``): a browser front end and HTTP API over ``pneumo_runtime``.

Importing this package launches nothing; ``pneumo.demo.demo_cli:main`` does.
"""
